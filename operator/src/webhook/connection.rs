//! One webhook connection: the TLS handshake, HTTP/1.1 or h2 with their limits, and a watchdog
//! that closes the connection when it has had no request in flight for the idle timeout, when
//! the server needs room for a new connection, or when the server stops.
//!
//! "Idle" means no request in flight: a connection that is still handshaking, that has not sent
//! a complete request header yet (h1 or h2), or that waits between requests. So a client that
//! trickles a header byte by byte is closed by the header-read timeout (HTTP/1.1) or at the
//! latest by the idle timeout (both protocols).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpStream;
use tokio::sync::{Notify, watch};
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use super::WebhookSettings;
use crate::metrics::{ConnectionClose, Metrics};

/// Most h2 streams (requests) a client may have open at once on one connection.
pub const MAX_CONCURRENT_STREAMS: u32 = 64;
/// How long an h2 connection may be quiet before the server pings it.
pub const H2_KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(20);
/// How long an h2 keep-alive ping may go unanswered before the connection is closed.
pub const H2_KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest header list of an h2 request.
pub const MAX_HEADER_LIST_BYTES: u32 = 64 * 1024;
/// A connection is never closed to make room during its first moment, so a client that has just
/// connected gets to send its request.
pub const EVICTION_GRACE: Duration = Duration::from_millis(200);
/// How long a connection asked to close (idle, evicted) may take to finish what it is writing.
pub const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// What the server and a connection share: whether requests are in flight and since when none is.
#[derive(Debug)]
pub struct Activity {
    state: Mutex<ActivityState>,
    evict: Notify,
    evicting: AtomicBool,
}

#[derive(Debug)]
struct ActivityState {
    in_flight: usize,
    idle_since: Instant,
}

impl Activity {
    fn new() -> Self {
        Activity {
            state: Mutex::new(ActivityState {
                in_flight: 0,
                idle_since: Instant::now(),
            }),
            evict: Notify::new(),
            evicting: AtomicBool::new(false),
        }
    }

    /// Since when no request has been in flight, or `None` while one is.
    pub fn idle_since(&self) -> Option<Instant> {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        (state.in_flight == 0).then_some(state.idle_since)
    }

    fn begin_request(self: &Arc<Self>) -> RequestGuard {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .in_flight += 1;
        RequestGuard(self.clone())
    }

    /// Asks the connection to close; `false` when it was already asked.
    fn request_eviction(&self) -> bool {
        if self.evicting.swap(true, Ordering::SeqCst) {
            return false;
        }
        self.evict.notify_one();
        true
    }
}

/// Marks a request in flight until dropped (when the handler has produced its response).
struct RequestGuard(Arc<Activity>);

impl Drop for RequestGuard {
    fn drop(&mut self) {
        let mut state = self.0.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.in_flight = state.in_flight.saturating_sub(1);
        if state.in_flight == 0 {
            state.idle_since = Instant::now();
        }
    }
}

/// The open connections, so the server can close the one idle the longest when it needs room.
#[derive(Debug)]
pub struct Registry {
    next_id: AtomicU64,
    open: Mutex<HashMap<u64, Arc<Activity>>>,
    metrics: Arc<Metrics>,
}

impl Registry {
    /// An empty registry counting open connections in `metrics`.
    pub fn new(metrics: Arc<Metrics>) -> Self {
        Registry {
            next_id: AtomicU64::new(0),
            open: Mutex::new(HashMap::new()),
            metrics,
        }
    }

    /// Registers a new connection; it is removed again when the returned handle drops.
    pub fn register(self: &Arc<Self>) -> Registered {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let activity = Arc::new(Activity::new());
        self.open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id, activity.clone());
        self.metrics.add_webhook_connections(1);
        Registered {
            id,
            activity,
            registry: self.clone(),
        }
    }

    /// Asks the connection idle the longest (and at least [`EVICTION_GRACE`]) to close; `false`
    /// when no connection qualifies.
    pub fn evict_longest_idle(&self) -> bool {
        let now = Instant::now();
        let open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let victim = open
            .values()
            .filter(|a| !a.evicting.load(Ordering::SeqCst))
            .filter_map(|a| Some((a.idle_since()?, a)))
            .filter(|(since, _)| now.saturating_duration_since(*since) >= EVICTION_GRACE)
            .min_by_key(|(since, _)| *since);
        victim.is_some_and(|(_, activity)| activity.request_eviction())
    }
}

/// A registered connection's handle.
#[derive(Debug)]
pub struct Registered {
    id: u64,
    activity: Arc<Activity>,
    registry: Arc<Registry>,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.registry
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.id);
        self.registry.metrics.add_webhook_connections(-1);
    }
}

/// Everything a connection task needs besides its socket.
#[derive(Clone)]
pub struct ConnectionContext {
    /// The TLS configuration.
    pub acceptor: TlsAcceptor,
    /// The HTTP routes.
    pub app: Router,
    /// Timeouts and limits.
    pub settings: Arc<WebhookSettings>,
    /// Where closes are counted.
    pub metrics: Arc<Metrics>,
    /// Becomes `true` when the server stops.
    pub stop: watch::Receiver<bool>,
}

/// Serves one accepted connection until it ends or is closed.
pub async fn serve(
    tcp: TcpStream,
    peer: SocketAddr,
    registered: Registered,
    mut context: ConnectionContext,
) {
    let activity = registered.activity.clone();
    let settings = context.settings.clone();
    let _ = tcp.set_nodelay(true);
    let handshake = tokio::time::timeout(settings.handshake_timeout, context.acceptor.accept(tcp));
    let stream = tokio::select! {
        result = handshake => match result {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => {
                tracing::debug!(%peer, error = %e, "TLS handshake failed");
                return;
            }
            Err(_) => {
                tracing::debug!(%peer, "TLS handshake timed out");
                context.metrics.record_connection_closed(ConnectionClose::HandshakeTimeout);
                return;
            }
        },
        () = activity.evict.notified() => {
            context.metrics.record_connection_closed(ConnectionClose::Evicted);
            return;
        }
        () = stopped(&mut context.stop) => return,
    };

    let builder = http_builder(&settings);
    let service_activity = activity.clone();
    let app = context.app.clone();
    let service = hyper::service::service_fn(move |request: http::Request<Incoming>| {
        let guard = service_activity.begin_request();
        let app = app.clone();
        async move {
            let response = app.oneshot(request).await;
            drop(guard);
            response
        }
    });
    let connection = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);

    let mut close_by: Option<Instant> = None;
    let mut stop = context.stop.clone();
    // Requests do not wake this loop: the idle timer is re-armed when it fires and finds the
    // connection busy or recently used, which costs one timer per idle timeout instead of two
    // wake-ups per request.
    let mut idle_check = Some(Instant::now() + settings.idle_timeout);
    loop {
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(error) = result {
                    if is_timeout(error.as_ref()) {
                        context.metrics.record_connection_closed(ConnectionClose::HeaderTimeout);
                    }
                    tracing::debug!(%peer, %error, "webhook connection ended with an error");
                }
                return;
            }
            () = sleep_until(idle_check) => {
                let now = Instant::now();
                match activity.idle_since() {
                    Some(since) if since + settings.idle_timeout <= now => {
                        tracing::debug!(%peer, "closing an idle webhook connection");
                        context.metrics.record_connection_closed(ConnectionClose::Idle);
                        connection.as_mut().graceful_shutdown();
                        close_by = Some(now + CLOSE_GRACE);
                        idle_check = None;
                    }
                    Some(since) => idle_check = Some(since + settings.idle_timeout),
                    None => idle_check = Some(now + settings.idle_timeout),
                }
            }
            () = activity.evict.notified(), if close_by.is_none() => {
                tracing::debug!(%peer, "closing the longest idle webhook connection to make room");
                context.metrics.record_connection_closed(ConnectionClose::Evicted);
                connection.as_mut().graceful_shutdown();
                close_by = Some(Instant::now() + CLOSE_GRACE);
                idle_check = None;
            }
            () = stopped(&mut stop), if close_by.is_none() => {
                connection.as_mut().graceful_shutdown();
                close_by = Some(Instant::now() + settings.drain_timeout);
                idle_check = None;
            }
            () = sleep_until(close_by) => {
                tracing::debug!(%peer, "a closing webhook connection did not finish in time; dropped");
                return;
            }
        }
    }
}

/// HTTP/1.1 and h2 with their timeouts and limits.
fn http_builder(settings: &WebhookSettings) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(settings.header_read_timeout)
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(MAX_CONCURRENT_STREAMS)
        .max_header_list_size(MAX_HEADER_LIST_BYTES)
        .keep_alive_interval(H2_KEEP_ALIVE_INTERVAL)
        .keep_alive_timeout(H2_KEEP_ALIVE_TIMEOUT);
    builder
}

/// Whether a connection error is hyper's header-read timeout.
fn is_timeout(error: &(dyn std::error::Error + 'static)) -> bool {
    error
        .downcast_ref::<hyper::Error>()
        .is_some_and(hyper::Error::is_timeout)
}

/// Completes at `deadline`, never without one.
async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// Completes once the server stops; never when it cannot tell (the server is gone anyway).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    if stop.wait_for(|stopping| *stopping).await.is_err() {
        std::future::pending::<()>().await;
    }
}
