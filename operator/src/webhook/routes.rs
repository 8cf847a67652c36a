//! The HTTP routes: `POST` on the admission path (`/mutate` by default), `GET /healthz`,
//! `GET /readyz`.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use super::WebhookState;
use super::pool::{AdmissionPool, PoolError};
use super::review::{busy, review};
use crate::metrics::AdmissionOutcome;

/// The webhook's router: the admission path ([`super::WebhookSettings::path`]) plus the health
/// endpoints.
pub fn router(state: WebhookState) -> Router {
    let limit = state.settings.max_body_bytes;
    let path = state.settings.path.clone();
    let admission = Admission {
        pool: AdmissionPool::new(
            state.settings.admission_workers,
            state.settings.admission_queue_timeout,
        ),
        state: state.clone(),
    };
    health_router(state).merge(
        Router::new()
            .route(&path, post(mutate))
            .layer(DefaultBodyLimit::max(limit))
            .with_state(admission),
    )
}

/// What the admission route reads: the webhook's state and its workers.
#[derive(Clone)]
struct Admission {
    state: WebhookState,
    pool: AdmissionPool,
}

/// Only `/healthz` and `/readyz`, to serve on another port (for example beside `/metrics`).
pub fn health_router(state: WebhookState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .with_state(state)
}

async fn readyz(State(state): State<WebhookState>) -> Response {
    match state.readiness() {
        Ok(()) => (StatusCode::OK, "ready\n").into_response(),
        Err(reasons) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {reasons}\n"),
        )
            .into_response(),
    }
}

async fn mutate(State(admission): State<Admission>, request: Request) -> Response {
    let started = Instant::now();
    let Admission { state, pool } = admission;
    let settings = state.settings.clone();
    // The whole body must arrive within the body-read timeout; its size is limited by the
    // `DefaultBodyLimit` layer.
    let read = tokio::time::timeout(
        settings.body_read_timeout,
        Bytes::from_request(request, &()),
    )
    .await;
    let body = match read {
        Ok(Ok(body)) => body,
        Ok(Err(rejection)) => {
            state
                .metrics
                .record_admission(AdmissionOutcome::Error, started.elapsed());
            let status = rejection.status();
            let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
                format!(
                    "invalid AdmissionReview: the body is larger than the {} byte limit\n",
                    settings.max_body_bytes
                )
            } else {
                format!("invalid AdmissionReview: {}\n", rejection.body_text())
            };
            return plain(status, message);
        }
        Err(_elapsed) => {
            state
                .metrics
                .record_admission(AdmissionOutcome::Error, started.elapsed());
            let mut response = plain(
                StatusCode::REQUEST_TIMEOUT,
                format!(
                    "invalid AdmissionReview: the body did not arrive within {} ms\n",
                    settings.body_read_timeout.as_millis()
                ),
            );
            // The rest of the body may still be on its way: do not reuse the connection.
            response
                .headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            return response;
        }
    };
    let decided = if body.len() <= settings.inline_review_bytes {
        // A small pod is decided where it arrived: its work is bounded by the body's size and
        // costs less than a hand-off to a blocking thread.
        Ok(catch_unwind(AssertUnwindSafe(|| {
            review(&body, state.source.as_ref(), &settings.inject)
        })))
    } else {
        let source = state.source.clone();
        let job_settings = settings.clone();
        let job_body = body.clone();
        pool.run(move || {
            catch_unwind(AssertUnwindSafe(|| {
                review(&job_body, source.as_ref(), &job_settings.inject)
            }))
        })
        .await
    };
    let reply = match decided {
        Ok(Ok(reply)) => reply,
        Err(PoolError::Busy(waited)) => {
            tracing::warn!(
                waited_ms = waited.as_millis(),
                "every admission worker stayed busy; the pod is allowed unchanged"
            );
            busy(&body)
        }
        Ok(Err(_)) | Err(PoolError::Failed) => {
            state
                .metrics
                .record_admission(AdmissionOutcome::Error, started.elapsed());
            return plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error while reading the AdmissionReview\n".into(),
            );
        }
    };
    state
        .metrics
        .record_admission(reply.outcome, started.elapsed());
    let content_type = if reply.status == 200 {
        "application/json"
    } else {
        "text/plain; charset=utf-8"
    };
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::BAD_REQUEST);
    (status, [(header::CONTENT_TYPE, content_type)], reply.body).into_response()
}

fn plain(status: StatusCode, message: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        message,
    )
        .into_response()
}
