//! Reading PEM certificates and keys: the facts the operator needs from a certificate.

use k8s_openapi::jiff::Timestamp;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

use super::TlsError;

/// What the operator reads from one certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertInfo {
    /// Start of validity.
    pub not_before: Timestamp,
    /// End of validity.
    pub not_after: Timestamp,
    /// Serial number in hexadecimal.
    pub serial: String,
    /// DNS subject alternative names.
    pub dns_names: Vec<String>,
    /// Whether it is a CA certificate.
    pub is_ca: bool,
    /// DER of the subject's public key (SubjectPublicKeyInfo).
    pub public_key: Vec<u8>,
    /// DER of the issuer's distinguished name.
    pub issuer: Vec<u8>,
    /// DER of the subject's distinguished name.
    pub subject: Vec<u8>,
}

impl CertInfo {
    /// Reads one DER certificate.
    pub fn from_der(der: &[u8]) -> Result<CertInfo, TlsError> {
        let (_, cert) = X509Certificate::from_der(der)
            .map_err(|e| TlsError::Invalid(format!("cannot parse certificate: {e}")))?;
        let validity = cert.validity();
        let time = |t: x509_parser::time::ASN1Time| {
            Timestamp::from_second(t.timestamp())
                .map_err(|e| TlsError::Invalid(format!("certificate time out of range: {e}")))
        };
        let dns_names = cert
            .subject_alternative_name()
            .ok()
            .flatten()
            .map(|san| {
                san.value
                    .general_names
                    .iter()
                    .filter_map(|n| match n {
                        GeneralName::DNSName(name) => Some((*name).to_string()),
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(CertInfo {
            not_before: time(validity.not_before)?,
            not_after: time(validity.not_after)?,
            serial: cert.raw_serial_as_string().replace(':', ""),
            dns_names,
            is_ca: cert.is_ca(),
            public_key: cert.public_key().raw.to_vec(),
            issuer: cert.issuer().as_raw().to_vec(),
            subject: cert.subject().as_raw().to_vec(),
        })
    }

    /// The instant at which less than a third of the lifetime is left: when to renew.
    pub fn renew_at(&self) -> Timestamp {
        let life = self.not_after.as_second() - self.not_before.as_second();
        Timestamp::from_second(self.not_before.as_second() + life * 2 / 3).unwrap_or(self.not_after)
    }

    /// Whether `now` lies inside the validity period.
    pub fn valid_at(&self, now: Timestamp) -> bool {
        self.not_before <= now && now < self.not_after
    }
}

/// All certificates in a PEM text, in order.
pub fn certificates(pem: &str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs: Result<Vec<_>, _> = rustls_pemfile::certs(&mut pem.as_bytes()).collect();
    let certs =
        certs.map_err(|e| TlsError::Invalid(format!("cannot read PEM certificates: {e}")))?;
    if certs.is_empty() {
        return Err(TlsError::Invalid("no certificate in PEM text".into()));
    }
    Ok(certs)
}

/// The first private key in a PEM text.
pub fn private_key(pem: &str) -> Result<PrivateKeyDer<'static>, TlsError> {
    rustls_pemfile::private_key(&mut pem.as_bytes())
        .map_err(|e| TlsError::Invalid(format!("cannot read PEM private key: {e}")))?
        .ok_or_else(|| TlsError::Invalid("no private key in PEM text".into()))
}

/// Splits a PEM bundle into one PEM text per certificate.
pub fn split_bundle(pem: &str) -> Vec<String> {
    const END: &str = "-----END CERTIFICATE-----";
    let mut out = Vec::new();
    let mut rest = pem;
    while let Some(start) = rest.find("-----BEGIN CERTIFICATE-----") {
        let Some(end) = rest[start..].find(END) else {
            break;
        };
        let stop = start + end + END.len();
        out.push(format!("{}\n", &rest[start..stop]));
        rest = &rest[stop..];
    }
    out
}
