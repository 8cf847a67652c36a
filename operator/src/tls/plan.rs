//! What the leader should write to the certificate Secret, decided without I/O.
//!
//! The Secret holds `ca.crt` (every CA clients should trust, the signing CA first), `ca.key` (the
//! signing CA's key), `tls.crt`/`tls.key` (the serving certificate), and during a CA rollover
//! `next-ca.crt`/`next-ca.key` plus the annotation [`ROLLOVER_ANNOTATION`].
//!
//! A CA rollover has two steps, so no client ever meets a certificate it does not trust: first the
//! new CA is added to `ca.crt` (the serving certificate is unchanged, and the webhook
//! configuration's `caBundle` follows `ca.crt`); once the API server is seen serving a `caBundle`
//! that holds the new CA (the `published` bundle) and at least `trust_propagation` has passed,
//! the new CA signs a new serving certificate and becomes the signing CA, the old one staying in
//! `ca.crt` until it expires. Without a published bundle that trusts the new CA, step two waits,
//! however long it takes.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::jiff::{SignedDuration, Timestamp};

use super::TlsError;
use super::issue::{KeyedCertificate, Validity, new_ca, new_leaf};
use super::pem::{CertInfo, certificates, split_bundle};

/// Secret key of the trusted CA bundle (PEM, signing CA first).
pub const CA_CERT_KEY: &str = "ca.crt";
/// Secret key of the signing CA's private key.
pub const CA_KEY_KEY: &str = "ca.key";
/// Secret key of the serving certificate.
pub const TLS_CERT_KEY: &str = "tls.crt";
/// Secret key of the serving certificate's private key.
pub const TLS_KEY_KEY: &str = "tls.key";
/// Secret key of the next CA during a rollover.
pub const NEXT_CA_CERT_KEY: &str = "next-ca.crt";
/// Secret key of the next CA's private key during a rollover.
pub const NEXT_CA_KEY_KEY: &str = "next-ca.key";
/// Secret annotation: when the CA rollover started (RFC 3339).
pub const ROLLOVER_ANNOTATION: &str = "openlit.io/ca-rollover-started";

/// The certificate material of the Secret.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stored {
    /// The signing CA.
    pub ca: Option<KeyedCertificate>,
    /// Other trusted CAs (PEM), kept in `ca.crt` after the signing CA.
    pub other_cas: Vec<String>,
    /// The serving certificate.
    pub leaf: Option<KeyedCertificate>,
    /// The CA being introduced by a rollover.
    pub next_ca: Option<KeyedCertificate>,
    /// When the rollover started.
    pub rollover_started: Option<Timestamp>,
}

impl Stored {
    /// Reads Secret data and annotations; missing or unreadable entries become `None`.
    pub fn from_secret(
        data: &BTreeMap<String, Vec<u8>>,
        annotations: &BTreeMap<String, String>,
    ) -> Stored {
        let text = |key: &str| {
            data.get(key)
                .and_then(|v| String::from_utf8(v.clone()).ok())
                .filter(|s| !s.trim().is_empty())
        };
        let pair = |cert: &str, key: &str| match (text(cert), text(key)) {
            (Some(cert_pem), Some(key_pem)) => Some(KeyedCertificate { cert_pem, key_pem }),
            _ => None,
        };
        let bundle = text(CA_CERT_KEY)
            .map(|b| split_bundle(&b))
            .unwrap_or_default();
        let ca = match (bundle.first(), text(CA_KEY_KEY)) {
            (Some(cert_pem), Some(key_pem)) => Some(KeyedCertificate {
                cert_pem: cert_pem.clone(),
                key_pem,
            }),
            _ => None,
        };
        let next_ca = pair(NEXT_CA_CERT_KEY, NEXT_CA_KEY_KEY);
        let next_pem = next_ca.as_ref().map(|n| n.cert_pem.trim().to_string());
        Stored {
            ca,
            other_cas: bundle
                .into_iter()
                .skip(1)
                .filter(|c| Some(c.trim().to_string()) != next_pem)
                .collect(),
            leaf: pair(TLS_CERT_KEY, TLS_KEY_KEY),
            next_ca,
            rollover_started: annotations
                .get(ROLLOVER_ANNOTATION)
                .and_then(|t| t.parse().ok()),
        }
    }

    /// The `ca.crt` bundle: signing CA, next CA, then the others.
    pub fn ca_bundle(&self) -> String {
        let mut out = String::new();
        for pem in self
            .ca
            .iter()
            .map(|c| &c.cert_pem)
            .chain(self.next_ca.iter().map(|c| &c.cert_pem))
            .chain(self.other_cas.iter())
        {
            out.push_str(pem.trim_end());
            out.push('\n');
        }
        out
    }

    /// Secret data and annotations for this material.
    pub fn to_secret(&self) -> (BTreeMap<String, Vec<u8>>, BTreeMap<String, String>) {
        let mut data = BTreeMap::new();
        let mut put = |key: &str, value: &str| {
            data.insert(key.to_string(), value.as_bytes().to_vec());
        };
        put(CA_CERT_KEY, &self.ca_bundle());
        if let Some(ca) = &self.ca {
            put(CA_KEY_KEY, &ca.key_pem);
        }
        if let Some(leaf) = &self.leaf {
            put(TLS_CERT_KEY, &leaf.cert_pem);
            put(TLS_KEY_KEY, &leaf.key_pem);
        }
        if let Some(next) = &self.next_ca {
            put(NEXT_CA_CERT_KEY, &next.cert_pem);
            put(NEXT_CA_KEY_KEY, &next.key_pem);
        }
        let mut annotations = BTreeMap::new();
        if let (Some(_), Some(started)) = (&self.next_ca, self.rollover_started) {
            annotations.insert(ROLLOVER_ANNOTATION.to_string(), started.to_string());
        }
        (data, annotations)
    }
}

/// Lifetimes and names used when issuing.
#[derive(Clone, Debug)]
pub struct IssuePolicy {
    /// DNS names of the serving certificate.
    pub dns_names: Vec<String>,
    /// Prefix of the CA's common name (the issue time is appended, so every CA is distinct).
    pub ca_name: String,
    /// CA lifetime.
    pub ca_lifetime: Duration,
    /// Serving certificate lifetime (capped at the CA's expiry).
    pub cert_lifetime: Duration,
    /// How far back certificates start.
    pub backdate: Duration,
    /// How long a new CA is trusted before it signs the serving certificate.
    pub trust_propagation: Duration,
    /// Renew the serving certificate this long before it expires (`None`: when a third of its
    /// lifetime is left).
    pub renew_before: Option<Duration>,
}

impl IssuePolicy {
    /// When a serving certificate is due for renewal.
    pub fn leaf_renew_at(&self, leaf: &CertInfo) -> Timestamp {
        let Some(before) = self.renew_before else {
            return leaf.renew_at();
        };
        let before = SignedDuration::try_from(before).unwrap_or(SignedDuration::MAX);
        leaf.not_after
            .checked_sub(before)
            .unwrap_or(leaf.not_before)
            .max(leaf.not_before)
    }
}

/// The leader's decision.
#[derive(Clone, Debug)]
pub struct Plan {
    /// The material to write, and why; `None` when the Secret is fine.
    pub write: Option<(Stored, String)>,
    /// When to look again.
    pub next_check: Timestamp,
}

fn later(t: Timestamp, by: Duration) -> Timestamp {
    t.checked_add(SignedDuration::try_from(by).unwrap_or(SignedDuration::MAX))
        .unwrap_or(Timestamp::MAX)
}

/// A CA that is a valid CA at `now` with its key.
fn usable_ca(ca: &KeyedCertificate, now: Timestamp) -> Option<CertInfo> {
    let der = certificates(&ca.cert_pem).ok()?;
    let info = CertInfo::from_der(&der[0]).ok()?;
    let key = rcgen::KeyPair::from_pem(&ca.key_pem).ok()?;
    let spki = rcgen::PublicKeyData::subject_public_key_info(&key);
    (info.is_ca && info.valid_at(now) && spki == info.public_key).then_some(info)
}

/// Why the serving certificate must be replaced, if it must.
fn leaf_problem(
    leaf: Option<&KeyedCertificate>,
    ca: &CertInfo,
    policy: &IssuePolicy,
    now: Timestamp,
) -> Result<Timestamp, String> {
    let leaf = leaf.ok_or("no serving certificate")?;
    let loaded = super::resolver::LoadedCertificate::from_pem(&leaf.cert_pem, &leaf.key_pem, "")
        .map_err(|e| e.to_string())?;
    let info = loaded.info;
    if !info.valid_at(now) {
        return Err(format!(
            "the serving certificate is not valid now (valid {} to {})",
            info.not_before, info.not_after
        ));
    }
    if now >= policy.leaf_renew_at(&info) {
        return Err(format!(
            "the serving certificate is due for renewal (expires {})",
            info.not_after
        ));
    }
    if info.issuer != ca.subject {
        return Err("the serving certificate is not signed by the current CA".into());
    }
    if let Some(missing) = policy
        .dns_names
        .iter()
        .find(|n| !info.dns_names.contains(n))
    {
        return Err(format!("the serving certificate does not cover {missing}"));
    }
    Ok(policy.leaf_renew_at(&info))
}

/// Whether `bundle` (PEM) holds the certificate `pem`.
fn bundle_holds(bundle: &str, pem: &str) -> bool {
    let (Ok(held), Ok(wanted)) = (certificates(bundle), certificates(pem)) else {
        return false;
    };
    wanted.first().is_some_and(|w| held.contains(w))
}

/// Whether `stored` can be served as it is at `now`: a usable signing CA with its key, and a
/// serving certificate it signed that loads, matches its key and is valid.
pub fn usable(stored: &Stored, now: Timestamp) -> bool {
    let Some(ca) = stored.ca.as_ref().and_then(|ca| usable_ca(ca, now)) else {
        return false;
    };
    let Some(leaf) = &stored.leaf else {
        return false;
    };
    super::resolver::LoadedCertificate::from_pem(&leaf.cert_pem, &leaf.key_pem, "")
        .is_ok_and(|loaded| loaded.info.valid_at(now) && loaded.info.issuer == ca.subject)
}

/// Decides what to write given the Secret's current material (`None`: no Secret) and the CA
/// bundle the API server serves in the webhook configuration (`None`: not seen).
pub fn plan(
    current: Option<&Stored>,
    now: Timestamp,
    policy: &IssuePolicy,
    published: Option<&str>,
) -> Result<Plan, TlsError> {
    let validity = |lifetime, cap| Validity {
        now,
        backdate: policy.backdate,
        lifetime,
        not_after_cap: cap,
    };
    let ca_name = format!("{} {}", policy.ca_name, now);
    let mut next = current.cloned().unwrap_or_default();
    let mut reasons = Vec::new();

    let mut signer = next.ca.as_ref().and_then(|ca| usable_ca(ca, now));
    if signer.is_none() {
        reasons.push(if next.ca.is_some() {
            "the CA is expired or unreadable: issuing a new CA"
        } else {
            "no CA: issuing one"
        });
        let ca = new_ca(&ca_name, validity(policy.ca_lifetime, None))?;
        signer = usable_ca(&ca, now);
        next = Stored {
            ca: Some(ca),
            ..Stored::default()
        };
    }
    let mut signer = signer.ok_or_else(|| TlsError::Issue("a fresh CA is not usable".into()))?;

    // Rollover, step two: the API server trusts the next CA, which may now sign.
    let mut awaiting_publication = false;
    if let Some(started) = next.rollover_started.filter(|_| next.next_ca.is_some()) {
        let incoming = next.next_ca.as_ref().and_then(|n| usable_ca(n, now));
        let trusted = next
            .next_ca
            .as_ref()
            .zip(published)
            .is_some_and(|(n, bundle)| bundle_holds(bundle, &n.cert_pem));
        let propagated = now >= later(started, policy.trust_propagation);
        awaiting_publication = propagated && !trusted;
        match incoming {
            Some(info) if propagated && trusted => {
                let old = next.ca.take().map(|c| c.cert_pem);
                next.ca = next.next_ca.take();
                next.other_cas.splice(0..0, old);
                next.rollover_started = None;
                next.leaf = None;
                signer = info;
                reasons.push("CA rollover: the new CA now signs the serving certificate");
            }
            Some(_) => {}
            None => {
                next.next_ca = None;
                next.rollover_started = None;
                reasons.push("the incoming CA is unusable: dropping it");
            }
        }
    } else if next.next_ca.is_some() || next.rollover_started.is_some() {
        next.next_ca = None;
        next.rollover_started = None;
    }
    // Rollover, step one: the CA has less than a third of its life left.
    if next.next_ca.is_none() && now >= signer.renew_at() {
        next.next_ca = Some(new_ca(&ca_name, validity(policy.ca_lifetime, None))?);
        next.rollover_started = Some(now);
        reasons.push("CA rollover: trusting a new CA alongside the current one");
    }

    let leaf_renew_at = match leaf_problem(next.leaf.as_ref(), &signer, policy, now) {
        Ok(renew_at) => renew_at,
        Err(problem) => {
            let ca = next
                .ca
                .as_ref()
                .ok_or_else(|| TlsError::Issue("no CA".into()))?;
            let leaf = new_leaf(
                ca,
                &policy.dns_names,
                validity(policy.cert_lifetime, Some(signer.not_after)),
            )?;
            let renew_at = certificates(&leaf.cert_pem)
                .and_then(|c| CertInfo::from_der(&c[0]))
                .map(|i| policy.leaf_renew_at(&i))?;
            next.leaf = Some(leaf);
            if reasons.is_empty() {
                reasons.push("renewing the serving certificate");
            }
            tracing::info!(%problem, "issuing a new serving certificate");
            renew_at
        }
    };

    // Old CAs stay trusted until they expire; then they leave the bundle.
    let before = next.other_cas.len();
    let mut seen = std::collections::BTreeSet::new();
    let mut other_expiry = Vec::new();
    next.other_cas.retain(|pem| {
        let info = certificates(pem)
            .ok()
            .and_then(|c| CertInfo::from_der(&c[0]).ok());
        let keep = info
            .as_ref()
            .is_some_and(|i| now < i.not_after && i.subject != signer.subject)
            && seen.insert(pem.trim().to_string());
        if let (true, Some(i)) = (keep, info) {
            other_expiry.push(i.not_after);
        }
        keep
    });
    if next.other_cas.len() != before && reasons.is_empty() {
        reasons.push("removing expired CAs from the trust bundle");
    }

    let mut next_check = leaf_renew_at;
    match next.rollover_started {
        // Waiting for the published bundle: its change, not the clock, wakes the caller.
        Some(_) if awaiting_publication => {}
        Some(started) => next_check = next_check.min(later(started, policy.trust_propagation)),
        None => next_check = next_check.min(signer.renew_at()),
    }
    if let Some(first) = other_expiry.into_iter().min() {
        next_check = next_check.min(first);
    }
    let changed = current != Some(&next);
    Ok(Plan {
        write: (changed).then(|| (next, reasons.join("; "))),
        next_check,
    })
}
