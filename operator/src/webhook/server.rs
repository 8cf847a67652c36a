//! The HTTPS server: a rustls accept loop (the certificate resolved at every handshake) serving
//! HTTP/1.1 and h2, with graceful shutdown.

use std::future::Future;
use std::io;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use super::WebhookState;
use super::routes::router;

/// Serves the webhook over HTTPS on `listener` until `shutdown` completes, then stops accepting,
/// lets in-flight requests finish (for at most `drain_timeout`) and returns. The certificate is
/// `state.certificate`, read at every handshake, so a renewed certificate needs no restart;
/// handshakes fail while none is loaded.
pub async fn serve_tls(
    listener: TcpListener,
    state: WebhookState,
    shutdown: impl Future<Output = ()> + Send,
) -> io::Result<()> {
    let tls = state
        .certificate
        .server_config()
        .map_err(|e| io::Error::other(e.to_string()))?;
    let acceptor = TlsAcceptor::from(tls);
    let drain_timeout = state.settings.drain_timeout;
    let handshake_timeout = state.settings.handshake_timeout;
    let app = router(state);
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: report and keep serving.
                    tracing::warn!(error = %e, "accepting a webhook connection");
                    tokio::task::yield_now().await;
                    continue;
                }
            },
        };
        let acceptor = acceptor.clone();
        let service = TowerToHyperService::new(app.clone());
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let _ = tcp.set_nodelay(true);
            let stream = match tokio::time::timeout(handshake_timeout, acceptor.accept(tcp)).await {
                Ok(Ok(stream)) => stream,
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(%peer, "TLS handshake timed out");
                    return;
                }
            };
            let builder = auto::Builder::new(TokioExecutor::new());
            let connection = builder.serve_connection(TokioIo::new(stream), service);
            if let Err(e) = watcher.watch(connection).await {
                tracing::debug!(%peer, error = %e, "webhook connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(drain_timeout, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("in-flight webhook requests did not finish within the drain timeout");
    }
    Ok(())
}
