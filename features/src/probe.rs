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
    let connector = connector(ca_pem, clock)?;
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| fail(&e))?;
    let name = ServerName::try_from(server_name.to_string()).map_err(|e| fail(&e))?;
    let tls = connector.connect(name, tcp).await.map_err(|e| fail(&e))?;
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
    let connector = connector(ca_pem, clock)?;
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| fail(&e))?;
    let name = ServerName::try_from(server_name.to_string()).map_err(|e| fail(&e))?;
    let mut tls = connector.connect(name, tcp).await.map_err(|e| fail(&e))?;
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: {server_name}\r\nConnection: close\r\n\r\n");
    tls.write_all(request.as_bytes())
        .await
        .map_err(|e| fail(&e))?;
    let mut response = Vec::new();
    let _ = tls.read_to_end(&mut response).await;
    let text = String::from_utf8_lossy(&response);
    text.split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| fail(&format!("no HTTP status in {text:?}")))
}
