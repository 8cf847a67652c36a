//! An HTTPS GET against a replica's webhook port, trusting the installation's CA, as the
//! kubelet's probes and the API server reach it.

use std::net::SocketAddr;
use std::sync::Arc;

use rustls::pki_types::ServerName;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::kube_ops::{StepError, StepResult};

/// GETs `path` over TLS from `addr`, verifying the certificate for `server_name` against the CA
/// in `ca_pem`; returns the HTTP status code.
pub async fn https_status(
    addr: SocketAddr,
    server_name: &str,
    ca_pem: &[u8],
    path: &str,
) -> StepResult<u16> {
    let fail = |e: &dyn std::fmt::Display| StepError::Other(format!("GET {path}: {e}"));
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut roots = rustls::RootCertStore::empty();
    for certificate in rustls_pemfile::certs(&mut &ca_pem[..]) {
        roots
            .add(certificate.map_err(|e| fail(&e))?)
            .map_err(|e| fail(&e))?;
    }
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
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
