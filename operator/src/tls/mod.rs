//! The webhook's TLS: a self-managed CA and serving certificate kept in one Secret, or
//! certificates issued by someone else read from files; hot-swapped into the server.
//!
//! # Self-managed mode (the default)
//!
//! Every replica runs [`run_secret_certificates`]: it watches the Secret named in
//! [`TlsSettings`] and installs its serving certificate into a [`ServingCertificate`], which the
//! TLS server reads at every handshake (no restart). While the replica leads (the `leader`
//! receiver holds `true`) the same task also writes the Secret: it creates it (CA and serving
//! certificate, ECDSA P-256, random serials, back-dated by [`TlsSettings::backdate`]), renews the
//! serving certificate when less than a third of its lifetime is left (or
//! [`TlsSettings::renew_before`] its expiry, when set), and rolls the CA over in two steps (see
//! [`plan`]), the second once the webhook configuration served by the API server trusts the new
//! CA. Writes use the Secret's `resourceVersion`, so two replicas racing to
//! create or renew it end with one Secret that both serve. An expired or otherwise unusable
//! certificate is never installed, so readiness stays false until it has been replaced.
//!
//! A Secret that turns unusable (garbage in a key, a certificate that does not load) or is
//! deleted never takes trust away: every replica keeps serving what it served, and the leader
//! rewrites the Secret from the last usable material it saw, so the CA the API server trusts
//! stays the CA that signs. Only a leader that never saw usable material issues a new CA.
//!
//! # Files mode
//!
//! [`watch_certificate_files`] reads `tls.crt`, `tls.key` and optionally `ca.crt` (for instance
//! cert-manager's mounted Secret) and re-reads them every poll interval, installing them when
//! their content changes.

mod files;
mod issue;
mod pem;
pub mod plan;
mod resolver;
mod secret;

use std::time::Duration;

pub use files::{CertificateFiles, watch_certificate_files};
pub use issue::{KeyedCertificate, Validity, new_ca, new_leaf, service_dns_names};
pub use pem::{CertInfo, certificates, private_key, split_bundle};
pub use resolver::{LoadedCertificate, ServingCertificate};
pub use secret::run_secret_certificates;

/// Errors of certificate handling.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A certificate, key or bundle could not be read or does not fit together.
    #[error("invalid certificate material: {0}")]
    Invalid(String),
    /// Issuing a certificate failed.
    #[error("cannot issue a certificate: {0}")]
    Issue(String),
    /// The Kubernetes API failed.
    #[error("certificate Secret: {0}")]
    Kube(#[from] kube::Error),
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
}

/// Settings of the self-managed certificates.
#[derive(Clone, Debug)]
pub struct TlsSettings {
    /// Namespace of the Secret and of the Service.
    pub namespace: String,
    /// Name of the Secret holding `ca.crt`, `ca.key`, `tls.crt`, `tls.key`.
    pub secret_name: String,
    /// Name of the webhook's Service; the certificate covers its four DNS forms.
    pub service_name: String,
    /// Prefix of the CA's common name.
    pub ca_name: String,
    /// CA lifetime (default 3 years).
    pub ca_lifetime: Duration,
    /// Serving certificate lifetime (default 90 days; never past the CA's expiry).
    pub cert_lifetime: Duration,
    /// How far back certificates start, for clock skew (default 5 minutes).
    pub backdate: Duration,
    /// How long a new CA is trusted before it signs, at least (default 1 minute); it also waits,
    /// however long, until the webhook configuration served by the API server carries it.
    pub trust_propagation: Duration,
    /// Wait before retrying a failed write (default 10 seconds, on the clock).
    pub retry_interval: Duration,
    /// Renew the serving certificate this long before it expires (default: when a third of its
    /// lifetime is left).
    pub renew_before: Option<Duration>,
    /// Bound of one request to the API server (on the clock).
    pub request_timeout: Duration,
}

impl TlsSettings {
    /// Defaults for an installation: Secret `<installation>-webhook-server-certs` and Service
    /// `<installation>-webhook-service` in `namespace`.
    pub fn for_installation(installation: &str, namespace: &str) -> Self {
        TlsSettings {
            namespace: namespace.to_string(),
            secret_name: format!("{installation}-webhook-server-certs"),
            service_name: format!("{installation}-webhook-service"),
            ca_name: format!("{installation} webhook CA"),
            ca_lifetime: Duration::from_secs(3 * 365 * 24 * 3600),
            cert_lifetime: Duration::from_secs(90 * 24 * 3600),
            backdate: Duration::from_secs(5 * 60),
            trust_propagation: Duration::from_secs(60),
            retry_interval: Duration::from_secs(10),
            renew_before: None,
            request_timeout: crate::api::DEFAULT_REQUEST_TIMEOUT,
        }
    }

    /// The issuing rules these settings describe.
    pub fn issue_policy(&self) -> plan::IssuePolicy {
        plan::IssuePolicy {
            dns_names: service_dns_names(&self.service_name, &self.namespace),
            ca_name: self.ca_name.clone(),
            ca_lifetime: self.ca_lifetime,
            cert_lifetime: self.cert_lifetime,
            backdate: self.backdate,
            trust_propagation: self.trust_propagation,
            renew_before: self.renew_before,
        }
    }
}
