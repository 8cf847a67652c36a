//! The plain-HTTP operations server: `/healthz` (liveness), `/readyz` (readiness: a valid serving
//! certificate is loaded, the resource cache has synced, and no component of the replica has
//! ended) and `/metrics` (Prometheus).

use std::future::Future;
use std::io;
use std::sync::Arc;

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;

use crate::metrics::{CONTENT_TYPE, Metrics};
use crate::supervise::Supervisor;
use crate::webhook::WebhookState;

/// `Err` with every reason the replica is not ready.
pub fn readiness(state: &WebhookState, supervisor: &Supervisor) -> Result<(), String> {
    let problems: Vec<String> = [state.readiness(), supervisor.health()]
        .into_iter()
        .filter_map(Result::err)
        .collect();
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

fn readyz(state: &WebhookState, supervisor: &Supervisor) -> Response {
    match readiness(state, supervisor) {
        Ok(()) => (StatusCode::OK, "ready\n").into_response(),
        Err(reasons) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {reasons}\n"),
        )
            .into_response(),
    }
}

/// `/metrics` only.
pub fn metrics_router(metrics: Arc<Metrics>) -> Router {
    Router::new().route(
        "/metrics",
        get(move || {
            let metrics = metrics.clone();
            async move { ([(header::CONTENT_TYPE, CONTENT_TYPE)], metrics.encode()).into_response() }
        }),
    )
}

/// `/healthz` and `/readyz`, plus `/metrics` when `metrics` is given.
pub fn operations_router(
    state: WebhookState,
    supervisor: Supervisor,
    metrics: Option<Arc<Metrics>>,
) -> Router {
    let router = Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route(
            "/readyz",
            get(move || {
                let response = readyz(&state, &supervisor);
                async move { response }
            }),
        );
    match metrics {
        Some(metrics) => router.merge(metrics_router(metrics)),
        None => router,
    }
}

/// Serves `router` on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}
