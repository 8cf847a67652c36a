//! The HTTPS server: a rustls accept loop (the certificate resolved at every handshake) serving
//! HTTP/1.1 and h2, with a cap on open connections, backoff on accept errors and graceful
//! shutdown. Each connection's timeouts and limits are in [`super::connection`].
//!
//! At the connection cap the server closes the connection that has had no request in flight the
//! longest (never one younger than [`super::connection::EVICTION_GRACE`]) to make room, so a flood
//! of idle or slow connections cannot lock out the API server; when every connection has a
//! request in flight, new connections wait in the listen queue until one ends.

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio_rustls::TlsAcceptor;

use super::WebhookState;
use super::connection::{self, ConnectionContext, Registry};
use super::routes::router;

/// First delay after a failed accept (out of file descriptors and the like); doubled up to
/// [`MAX_ACCEPT_BACKOFF`] while accepting keeps failing.
const FIRST_ACCEPT_BACKOFF: Duration = Duration::from_millis(5);
/// Longest delay between failed accepts.
const MAX_ACCEPT_BACKOFF: Duration = Duration::from_secs(1);
/// How long the accept loop waits for a connection to end after asking one to make room.
const EVICTION_RETRY: Duration = Duration::from_millis(50);

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
    let settings = state.settings.clone();
    let metrics = state.metrics.clone();
    let max_connections = settings.max_connections.clamp(1, Semaphore::MAX_PERMITS);
    let slots = Arc::new(Semaphore::new(max_connections));
    let registry = Arc::new(Registry::new(metrics.clone()));
    let (stop, stopped) = watch::channel(false);
    let context = ConnectionContext {
        acceptor: TlsAcceptor::from(tls),
        app: router(state),
        settings: settings.clone(),
        metrics,
        stop: stopped,
    };
    let mut backoff = FIRST_ACCEPT_BACKOFF;
    tokio::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            () = &mut shutdown => break,
            slot = free_slot(&slots, &registry) => slot,
        };
        let (tcp, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => {
                    backoff = FIRST_ACCEPT_BACKOFF;
                    accepted
                }
                Err(e) => {
                    // Out of file descriptors and the like: wait, longer each time, and retry.
                    tracing::warn!(error = %e, retry_in_ms = backoff.as_millis(), "accepting a webhook connection");
                    tokio::select! {
                        () = &mut shutdown => break,
                        () = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(MAX_ACCEPT_BACKOFF);
                    continue;
                }
            },
        };
        let registered = registry.register();
        let context = context.clone();
        tokio::spawn(async move {
            connection::serve(tcp, peer, registered, context).await;
            drop(slot);
        });
    }
    drop(listener);
    stop.send_replace(true);
    // Every connection holds a slot until it ends: all slots free means all connections ended.
    let all = u32::try_from(max_connections).unwrap_or(u32::MAX);
    if tokio::time::timeout(settings.drain_timeout, slots.acquire_many(all))
        .await
        .is_err()
    {
        tracing::warn!("in-flight webhook requests did not finish within the drain timeout");
    }
    Ok(())
}

/// A free connection slot; at the cap, asks the connection idle the longest to close until one
/// frees up.
async fn free_slot(slots: &Arc<Semaphore>, registry: &Registry) -> OwnedSemaphorePermit {
    loop {
        if let Ok(slot) = slots.clone().try_acquire_owned() {
            return slot;
        }
        registry.evict_longest_idle();
        if let Ok(Ok(slot)) =
            tokio::time::timeout(EVICTION_RETRY, slots.clone().acquire_owned()).await
        {
            return slot;
        }
    }
}
