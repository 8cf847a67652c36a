//! The plain-HTTP operations server: `/healthz` (liveness), `/readyz` (readiness: a valid serving
//! certificate is loaded and the resource cache has synced) and `/metrics` (Prometheus).

use std::future::Future;
use std::io;
use std::sync::Arc;

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::net::TcpListener;

use crate::metrics::{CONTENT_TYPE, Metrics};
use crate::webhook::{WebhookState, health_router};

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
pub fn operations_router(state: WebhookState, metrics: Option<Arc<Metrics>>) -> Router {
    let router = health_router(state);
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
