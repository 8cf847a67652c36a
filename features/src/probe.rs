//! An HTTPS GET against a replica's webhook port, trusting the installation's CA, as the
//! kubelet's probes and the API server reach it.

use std::net::SocketAddr;
use std::sync::Arc;

use std::time::Duration;

use kubesim::SimClock;
use rustls::pki_types::{ServerName, UnixTime};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::kube_ops::{StepError, StepResult};

/// The leaf certificate (DER) a replica presents for `server_name`, verified against `ca_pem`.
pub async fn served_certificate(
    addr: SocketAddr,
    server_name: &str,
    ca_pem: &[u8],
    clock: &SimClock,
) -> StepResult<Vec<u8>> {
    let fail =
        |e: &dyn std::fmt::Display| StepError::Other(format!("TLS handshake with {addr}: {e}"));
    let tls = connect(addr, server_name, ca_pem, clock, fail).await?;
    let (_, session) = tls.get_ref();
    let leaf = session
        .peer_certificates()
        .and_then(|chain| chain.first())
        .ok_or_else(|| fail(&"no certificate"))?;
    Ok(leaf.as_ref().to_vec())
}

/// Certificates are judged at the cluster's (virtual) time, as the API server judges them.
#[derive(Debug)]
struct ClusterTime(SimClock);

impl rustls::time_provider::TimeProvider for ClusterTime {
    fn current_time(&self) -> Option<UnixTime> {
        let seconds = u64::try_from(self.0.now().timestamp()).ok()?;
        Some(UnixTime::since_unix_epoch(Duration::from_secs(seconds)))
    }
}

fn connector(ca_pem: &[u8], clock: &SimClock) -> StepResult<tokio_rustls::TlsConnector> {
    let fail = |e: &dyn std::fmt::Display| StepError::Other(format!("CA bundle: {e}"));
    let mut roots = rustls::RootCertStore::empty();
    for certificate in rustls_pemfile::certs(&mut &ca_pem[..]) {
        roots
            .add(certificate.map_err(|e| fail(&e))?)
            .map_err(|e| fail(&e))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config =
        rustls::ClientConfig::builder_with_details(provider, Arc::new(ClusterTime(clock.clone())))
            .with_safe_default_protocol_versions()
            .map_err(|e| fail(&e))?
            .with_root_certificates(roots)
            .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

/// Opens a TLS connection to `addr`, verifying the certificate for `server_name` against the CA
/// in `ca_pem` at the cluster's time.
async fn connect(
    addr: SocketAddr,
    server_name: &str,
    ca_pem: &[u8],
    clock: &SimClock,
    fail: impl Fn(&dyn std::fmt::Display) -> StepError,
) -> StepResult<tokio_rustls::client::TlsStream<tokio::net::TcpStream>> {
    let connector = connector(ca_pem, clock)?;
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| fail(&e))?;
    let name = ServerName::try_from(server_name.to_string()).map_err(|e| fail(&e))?;
    connector.connect(name, tcp).await.map_err(|e| fail(&e))
}

/// Sends one HTTP/1.1 request over TLS to `addr`, verifying the certificate for `server_name`
/// against the CA in `ca_pem` at the cluster's time, and reads the whole response.
async fn exchange(
    addr: SocketAddr,
    server_name: &str,
    ca_pem: &[u8],
    clock: &SimClock,
    request: &[u8],
    fail: impl Fn(&dyn std::fmt::Display) -> StepError,
) -> StepResult<Vec<u8>> {
    let mut tls = connect(addr, server_name, ca_pem, clock, &fail).await?;
    tls.write_all(request).await.map_err(|e| fail(&e))?;
    let mut response = Vec::new();
    let _ = tls.read_to_end(&mut response).await;
    Ok(response)
}

/// GETs `path` over TLS from `addr`, verifying the certificate for `server_name` against the CA
/// in `ca_pem` at the cluster's time; returns the HTTP status code.
pub async fn https_status(
    addr: SocketAddr,
    server_name: &str,
    ca_pem: &[u8],
    clock: &SimClock,
    path: &str,
) -> StepResult<u16> {
    let fail = |e: &dyn std::fmt::Display| StepError::Other(format!("GET {path}: {e}"));
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: {server_name}\r\nConnection: close\r\n\r\n");
    let response = exchange(addr, server_name, ca_pem, clock, request.as_bytes(), fail).await?;
    let text = String::from_utf8_lossy(&response);
    text.split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| fail(&format!("no HTTP status in {text:?}")))
}

/// An HTTP answer: its status code and body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpReply {
    /// The status code.
    pub status: u16,
    /// The body as text (chunked transfer decoded).
    pub body: String,
}

/// POSTs `body` as JSON to `path` over TLS at `addr`, verifying the certificate for
/// `server_name` against the CA in `ca_pem` at the cluster's time, as the API server calls a
/// webhook; returns the status code and body.
pub async fn https_post(
    addr: SocketAddr,
    server_name: &str,
    ca_pem: &[u8],
    clock: &SimClock,
    path: &str,
    body: &[u8],
) -> StepResult<HttpReply> {
    let fail = |e: &dyn std::fmt::Display| StepError::Other(format!("POST {path}: {e}"));
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nHost: {server_name}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    let response = exchange(addr, server_name, ca_pem, clock, &request, fail).await?;
    parse_reply(&response).ok_or_else(|| {
        fail(&format!(
            "no HTTP response in {:?}",
            String::from_utf8_lossy(&response)
        ))
    })
}

/// Splits a raw HTTP/1.1 response into its status code and body.
fn parse_reply(response: &[u8]) -> Option<HttpReply> {
    let text = String::from_utf8_lossy(response);
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    let chunked = head.lines().any(|line| {
        let line = line.to_ascii_lowercase();
        line.starts_with("transfer-encoding:") && line.contains("chunked")
    });
    let body = if chunked {
        dechunk(body)?
    } else {
        body.to_string()
    };
    Some(HttpReply { status, body })
}

/// Decodes a chunked transfer-encoded body.
fn dechunk(mut rest: &str) -> Option<String> {
    let mut out = String::new();
    loop {
        let (size, after) = rest.split_once("\r\n")?;
        let size = usize::from_str_radix(size.split(';').next()?.trim(), 16).ok()?;
        if size == 0 {
            return Some(out);
        }
        out.push_str(after.get(..size)?);
        rest = after.get(size..)?.strip_prefix("\r\n")?;
    }
}

#[cfg(test)]
mod tests {
    use super::parse_reply;

    #[test]
    fn replies_with_a_length_or_in_chunks_are_read() {
        let plain = parse_reply(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 5\r\n\r\nbad\n!")
            .expect("a reply");
        assert_eq!((plain.status, plain.body.as_str()), (400, "bad\n!"));
        let chunked = parse_reply(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
        )
        .expect("a reply");
        assert_eq!((chunked.status, chunked.body.as_str()), (200, "abcde"));
    }
}
