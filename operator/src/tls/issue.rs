//! Issuing certificates with rcgen: a self-signed CA and a serving certificate it signs, both
//! ECDSA P-256 with random serials and a back-dated start.

use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SerialNumber,
};

use super::TlsError;

/// A certificate and its private key, as PEM.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyedCertificate {
    /// The certificate.
    pub cert_pem: String,
    /// Its PKCS#8 private key.
    pub key_pem: String,
}

/// The validity window of a certificate issued at `now`.
#[derive(Clone, Copy, Debug)]
pub struct Validity {
    /// Issue time.
    pub now: Timestamp,
    /// How far before `now` the certificate starts (tolerates clock skew between machines).
    pub backdate: Duration,
    /// How long after `now` it ends.
    pub lifetime: Duration,
    /// An end it must not pass (the issuing CA's expiry).
    pub not_after_cap: Option<Timestamp>,
}

impl Validity {
    fn apply(&self, params: &mut CertificateParams) -> Result<(), TlsError> {
        let now = self.now.as_second();
        let start = now.saturating_sub(secs(self.backdate));
        let mut end = now.saturating_add(secs(self.lifetime));
        if let Some(cap) = self.not_after_cap {
            end = end.min(cap.as_second());
        }
        params.not_before = to_time(start)?;
        params.not_after = to_time(end)?;
        Ok(())
    }
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

fn to_time(unix: i64) -> Result<time::OffsetDateTime, TlsError> {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .map_err(|e| TlsError::Issue(format!("time out of range: {e}")))
}

fn random_serial() -> SerialNumber {
    let mut bytes: [u8; 16] = rand::random();
    // A positive INTEGER with no leading zero byte.
    bytes[0] = (bytes[0] & 0x7f) | 0x40;
    SerialNumber::from_slice(&bytes)
}

fn issue_error(e: rcgen::Error) -> TlsError {
    TlsError::Issue(e.to_string())
}

/// A new self-signed CA named `common_name`.
pub fn new_ca(common_name: &str, validity: Validity) -> Result<KeyedCertificate, TlsError> {
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(issue_error)?;
    let mut params = CertificateParams::new(Vec::<String>::new()).map_err(issue_error)?;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.distinguished_name = DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.serial_number = Some(random_serial());
    validity.apply(&mut params)?;
    let cert = params.self_signed(&key).map_err(issue_error)?;
    Ok(KeyedCertificate {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

/// A new serving certificate for `dns_names`, signed by `ca`.
pub fn new_leaf(
    ca: &KeyedCertificate,
    dns_names: &[String],
    validity: Validity,
) -> Result<KeyedCertificate, TlsError> {
    let ca_key = KeyPair::from_pem(&ca.key_pem).map_err(issue_error)?;
    let issuer = Issuer::from_ca_cert_pem(&ca.cert_pem, ca_key).map_err(issue_error)?;
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(issue_error)?;
    let mut params = CertificateParams::new(dns_names.to_vec()).map_err(issue_error)?;
    params.distinguished_name = DistinguishedName::new();
    if let Some(first) = dns_names.get(2).or(dns_names.first()) {
        params.distinguished_name.push(DnType::CommonName, first);
    }
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    params.serial_number = Some(random_serial());
    validity.apply(&mut params)?;
    let cert = params.signed_by(&key, &issuer).map_err(issue_error)?;
    Ok(KeyedCertificate {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

/// The DNS names a Service is reached by: `<svc>`, `<svc>.<ns>`, `<svc>.<ns>.svc` and
/// `<svc>.<ns>.svc.cluster.local`.
pub fn service_dns_names(service: &str, namespace: &str) -> Vec<String> {
    vec![
        service.to_string(),
        format!("{service}.{namespace}"),
        format!("{service}.{namespace}.svc"),
        format!("{service}.{namespace}.svc.cluster.local"),
    ]
}
