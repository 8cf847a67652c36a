//! Bearer tokens issued for service accounts.

use rand::distr::{Alphanumeric, SampleString};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The service account a token was issued for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceAccountRef {
    /// Namespace of the ServiceAccount.
    pub namespace: String,
    /// Name of the ServiceAccount.
    pub name: String,
}

/// The tokens issued so far (they do not expire).
#[derive(Clone, Default)]
pub struct Tokens {
    issued: Arc<Mutex<HashMap<String, ServiceAccountRef>>>,
}

impl Tokens {
    /// Issue a new token for the ServiceAccount `namespace/name`.
    pub fn issue(&self, namespace: &str, name: &str) -> String {
        let token = format!(
            "kubesim.{}",
            Alphanumeric.sample_string(&mut rand::rng(), 48)
        );
        self.issued
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(
                token.clone(),
                ServiceAccountRef {
                    namespace: namespace.to_string(),
                    name: name.to_string(),
                },
            );
        token
    }

    /// The service account a token was issued for, if it was.
    pub fn lookup(&self, token: &str) -> Option<ServiceAccountRef> {
        self.issued
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(token)
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_tokens_resolve_and_others_do_not() {
        let tokens = Tokens::default();
        let a = tokens.issue("ns", "a");
        let b = tokens.issue("ns", "a");
        assert_ne!(a, b, "every token is new");
        assert_eq!(tokens.lookup(&a).map(|r| r.name), Some("a".to_string()));
        assert_eq!(tokens.lookup("kubesim.guess"), None);
    }
}
