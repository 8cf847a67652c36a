//! A TLS client that reports which certificate a replica presents.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;

use openlit_operator::tls::{CertInfo, certificates};
use rustls::pki_types::ServerName;

pub const SERVER_NAME: &str = "openlit-webhook-service.openlit.svc";

/// Handshakes with `addr` trusting `ca_bundle`; returns the presented certificate's facts.
pub async fn presented(addr: SocketAddr, ca_bundle: &str) -> Result<CertInfo, String> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in certificates(ca_bundle).map_err(|e| e.to_string())? {
        roots.add(cert).map_err(|e| e.to_string())?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    let name = ServerName::try_from(SERVER_NAME.to_string()).map_err(|e| e.to_string())?;
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .map_err(|e| e.to_string())?;
    let der = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first().cloned())
        .ok_or("no certificate presented")?;
    CertInfo::from_der(&der).map_err(|e| e.to_string())
}
