//! The HTTP routes: `POST` on the admission path (`/mutate` by default), `GET /healthz`,
//! `GET /readyz`.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use super::WebhookState;
use super::review::review;
use crate::metrics::AdmissionOutcome;

/// The webhook's router: the admission path ([`super::WebhookSettings::path`]) plus the health
/// endpoints.
pub fn router(state: WebhookState) -> Router {
    let limit = state.settings.max_body_bytes;
    let path = state.settings.path.clone();
    health_router(state.clone()).merge(
        Router::new()
            .route(&path, post(mutate))
            .layer(DefaultBodyLimit::max(limit))
            .with_state(state),
    )
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

async fn mutate(
    State(state): State<WebhookState>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let started = Instant::now();
    let body = match body {
        Ok(body) => body,
        Err(rejection) => {
            state
                .metrics
                .record_admission(AdmissionOutcome::Error, started.elapsed());
            let status = rejection.status();
            let message = if status == StatusCode::PAYLOAD_TOO_LARGE {
                format!(
                    "invalid AdmissionReview: the body is larger than the {} byte limit\n",
                    state.settings.max_body_bytes
                )
            } else {
                format!("invalid AdmissionReview: {}\n", rejection.body_text())
            };
            return plain(status, message);
        }
    };
    let settings = &state.settings;
    let answered = catch_unwind(AssertUnwindSafe(|| {
        review(&body, state.source.as_ref(), &settings.inject)
    }));
    match answered {
        Ok(reply) => {
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
        Err(_) => {
            state
                .metrics
                .record_admission(AdmissionOutcome::Error, started.elapsed());
            plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error while reading the AdmissionReview\n".into(),
            )
        }
    }
}

fn plain(status: StatusCode, message: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        message,
    )
        .into_response()
}
