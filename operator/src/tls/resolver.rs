//! The serving certificate every TLS handshake reads: an atomically swapped key, so a new
//! certificate takes effect on the next handshake without a restart.

use std::sync::Arc;

use arc_swap::ArcSwapOption;
use k8s_openapi::jiff::Timestamp;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio::sync::watch;

use super::TlsError;
use super::pem::{CertInfo, certificates, private_key};

/// A certificate ready to serve, with the facts the rest of the operator needs.
#[derive(Debug)]
pub struct LoadedCertificate {
    /// The chain and signing key given to rustls.
    pub certified: Arc<CertifiedKey>,
    /// The leaf certificate's facts.
    pub info: CertInfo,
    /// PEM of every CA clients should trust (the webhook configuration's `caBundle`).
    pub ca_bundle: String,
}

impl LoadedCertificate {
    /// Builds a serving certificate from PEM texts: the chain (leaf first), its key, and the CA
    /// bundle. Fails when the key does not belong to the certificate.
    pub fn from_pem(cert_pem: &str, key_pem: &str, ca_bundle: &str) -> Result<Self, TlsError> {
        let chain = certificates(cert_pem)?;
        let key = private_key(key_pem)?;
        let info = CertInfo::from_der(&chain[0])?;
        let signing_key = rustls::crypto::ring::sign::any_supported_type(&key)
            .map_err(|e| TlsError::Invalid(format!("unsupported private key: {e}")))?;
        let certified = CertifiedKey::new(chain, signing_key);
        certified
            .keys_match()
            .map_err(|e| TlsError::Invalid(format!("tls.key does not match tls.crt: {e}")))?;
        Ok(LoadedCertificate {
            certified: Arc::new(certified),
            info,
            ca_bundle: ca_bundle.to_string(),
        })
    }
}

/// The current serving certificate of one replica, shared by the TLS server (through
/// [`ServingCertificate::resolver`]), readiness, and the webhook configuration (`caBundle`).
#[derive(Clone, Debug)]
pub struct ServingCertificate {
    current: Arc<ArcSwapOption<LoadedCertificate>>,
    changes: Arc<watch::Sender<Option<Arc<LoadedCertificate>>>>,
    published: Arc<watch::Sender<Option<String>>>,
}

impl Default for ServingCertificate {
    fn default() -> Self {
        Self::new()
    }
}

impl ServingCertificate {
    /// No certificate yet: handshakes fail and readiness is false until one is installed.
    pub fn new() -> Self {
        ServingCertificate {
            current: Arc::new(ArcSwapOption::empty()),
            changes: Arc::new(watch::channel(None).0),
            published: Arc::new(watch::channel(None).0),
        }
    }

    /// Records the CA bundle (PEM) the webhook configuration carries as the API server last
    /// served it (`None`: not seen, or no configuration). Certificate changes that need clients
    /// to trust a new CA wait for it here.
    pub fn publish(&self, bundle: Option<String>) {
        self.published.send_if_modified(|current| {
            let changed = *current != bundle;
            *current = bundle;
            changed
        });
    }

    /// The CA bundle the API server was last seen to carry in the webhook configuration.
    pub fn published(&self) -> Option<String> {
        self.published.borrow().clone()
    }

    /// Notified when [`ServingCertificate::published`] changes.
    pub fn subscribe_published(&self) -> watch::Receiver<Option<String>> {
        self.published.subscribe()
    }

    /// Makes `certificate` the one served from the next handshake on.
    pub fn install(&self, certificate: LoadedCertificate) {
        let certificate = Arc::new(certificate);
        self.current.store(Some(certificate.clone()));
        self.changes.send_replace(Some(certificate));
    }

    /// The certificate being served, if any.
    pub fn current(&self) -> Option<Arc<LoadedCertificate>> {
        self.current.load_full()
    }

    /// Whether a certificate valid at `now` is loaded.
    pub fn valid_at(&self, now: Timestamp) -> bool {
        self.current().is_some_and(|c| c.info.valid_at(now))
    }

    /// Notified on every installed certificate.
    pub fn subscribe(&self) -> watch::Receiver<Option<Arc<LoadedCertificate>>> {
        self.changes.subscribe()
    }

    /// The rustls resolver reading this certificate at every handshake.
    pub fn resolver(&self) -> Arc<dyn ResolvesServerCert> {
        Arc::new(Resolver(self.clone()))
    }

    /// A rustls server configuration (TLS 1.2 and 1.3, ring, ALPN `h2` and `http/1.1`) serving
    /// this certificate.
    pub fn server_config(&self) -> Result<Arc<rustls::ServerConfig>, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|e| TlsError::Invalid(format!("TLS configuration: {e}")))?
            .with_no_client_auth()
            .with_cert_resolver(self.resolver());
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

#[derive(Debug)]
struct Resolver(ServingCertificate);

impl ResolvesServerCert for Resolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.0.current.load().as_ref().map(|c| c.certified.clone())
    }
}
