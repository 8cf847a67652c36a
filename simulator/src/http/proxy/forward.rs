//! Sending one proxied request over plain HTTP/1.1 to the address serving a pod or service port,
//! and relaying the answer (status, headers, streamed body).

use crate::error::ApiError;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderName, Method, header};
use axum::response::Response;
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use std::fmt::Display;
use std::net::SocketAddr;
use std::time::Duration;

/// How long a connection attempt may take (the API server's proxy dialer's timeout).
const DIAL_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a proxied request got no answer, worded as Go's HTTP transport words it.
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    /// Nothing listens at the address.
    #[error("dial tcp {host}: connect: connection refused")]
    Refused {
        /// `host:port` dialed.
        host: String,
    },
    /// The connection failed otherwise.
    #[error("dial tcp {host}: connect: {source}")]
    Dial {
        /// `host:port` dialed.
        host: String,
        /// The socket error.
        source: std::io::Error,
    },
    /// The connection was not established in time.
    #[error("dial tcp {host}: i/o timeout")]
    DialTimeout {
        /// `host:port` dialed.
        host: String,
    },
    /// The HTTP exchange failed.
    #[error("{0}")]
    Http(#[from] hyper::Error),
    /// The request could not be built from what was received.
    #[error("{0}")]
    Request(#[from] axum::http::Error),
}

/// The 503 the API server answers when its proxy transport fails: `error trying to reach
/// service: <transport error>`.
pub fn unreachable(err: impl Display) -> ApiError {
    ApiError::unavailable(format!("error trying to reach service: {err}"))
}

impl From<ForwardError> for ApiError {
    fn from(e: ForwardError) -> Self {
        unreachable(e)
    }
}

/// What is sent upstream.
pub struct Outbound<'a> {
    /// The method, as received.
    pub method: Method,
    /// Path and query for the upstream request line.
    pub path_and_query: String,
    /// The received headers; hop-by-hop headers, `Host` and the credentials are not forwarded.
    pub headers: &'a HeaderMap,
    /// The received body.
    pub body: Bytes,
    /// The API path the request came in on, sent as `X-Forwarded-Uri` as upstream does.
    pub forwarded_uri: String,
}

/// Headers that belong to one connection, or to the API server, and are not relayed.
fn relayed(name: &HeaderName) -> bool {
    !matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "proxy-connection"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
            | "host"
            | "authorization"
    )
}

async fn dial(addr: SocketAddr, host: &str) -> Result<tokio::net::TcpStream, ForwardError> {
    match tokio::time::timeout(DIAL_TIMEOUT, tokio::net::TcpStream::connect(addr)).await {
        Err(_) => Err(ForwardError::DialTimeout { host: host.into() }),
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            Err(ForwardError::Refused { host: host.into() })
        }
        Ok(Err(source)) => Err(ForwardError::Dial {
            host: host.into(),
            source,
        }),
        Ok(Ok(tcp)) => Ok(tcp),
    }
}

/// Send `out` to `addr` (known to clients as `host`) and relay the response.
pub async fn forward(
    addr: SocketAddr,
    host: &str,
    out: Outbound<'_>,
) -> Result<Response, ForwardError> {
    let tcp = dial(addr, host).await?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await?;
    tokio::spawn(conn);
    let mut req = axum::http::Request::builder()
        .method(out.method)
        .uri(out.path_and_query);
    for (name, value) in out.headers.iter().filter(|(n, _)| relayed(n)) {
        req = req.header(name, value);
    }
    let req = req
        .header(header::HOST, host)
        .header("x-forwarded-uri", out.forwarded_uri)
        .body(Full::new(out.body))?;
    let (parts, body) = sender.send_request(req).await?.into_parts();
    let mut resp = Response::builder().status(parts.status);
    for (name, value) in parts.headers.iter().filter(|(n, _)| relayed(n)) {
        resp = resp.header(name, value);
    }
    Ok(resp.body(Body::new(body))?)
}

/// The 503 for a port nothing listens on, as a refused connection to `host`.
pub fn refused(host: &str) -> ApiError {
    ForwardError::Refused { host: host.into() }.into()
}
