//! Syntax of Kubernetes label keys and values, as the API server checks them on pods.

use super::limits::{MAX_LABEL_KEY_LEN, MAX_LABEL_VALUE_LEN};

/// Longest allowed label value and name part of a key.
const MAX_NAME: usize = MAX_LABEL_VALUE_LEN;
/// Longest allowed DNS-subdomain prefix of a key.
const MAX_PREFIX: usize = 253;

/// Schema pattern for a label key (`[prefix/]name`); lengths are checked in code only.
pub const LABEL_KEY_PATTERN: &str = r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$";
/// Schema pattern for a label value (may be empty); the length is checked in code only.
pub const LABEL_VALUE_PATTERN: &str = r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$";

/// Checks a label key: an optional DNS-subdomain prefix and `/`, then a name of at most 63
/// characters made of alphanumerics, `-`, `_` and `.`, starting and ending with an alphanumeric.
pub fn check_label_key(key: &str) -> Result<(), String> {
    if key.len() > MAX_LABEL_KEY_LEN {
        return Err(format!("must be at most {MAX_LABEL_KEY_LEN} characters"));
    }
    let (prefix, name) = match key.split_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    if let Some(prefix) = prefix {
        check_dns_subdomain(prefix).map_err(|reason| format!("prefix '{prefix}' {reason}"))?;
    }
    check_name(name).map_err(|reason| format!("name part '{name}' {reason}"))
}

/// Checks a label value: empty, or at most 63 characters made of alphanumerics, `-`, `_` and `.`,
/// starting and ending with an alphanumeric.
pub fn check_label_value(value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Ok(());
    }
    check_name(value)
}

fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("must not be empty".to_string());
    }
    if name.len() > MAX_NAME {
        return Err(format!("must be at most {MAX_NAME} characters"));
    }
    let bytes = name.as_bytes();
    let ends_ok = |b: &u8| b.is_ascii_alphanumeric();
    if !bytes.first().is_some_and(ends_ok) || !bytes.last().is_some_and(ends_ok) {
        return Err("must start and end with a letter or digit".to_string());
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        return Err(format!(
            "contains '{bad}' (only letters, digits, '-', '_' and '.' are allowed)"
        ));
    }
    Ok(())
}

/// Checks a lower-case RFC 1123 DNS subdomain (as used for label-key prefixes).
pub fn check_dns_subdomain(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("must not be empty".to_string());
    }
    if name.len() > MAX_PREFIX {
        return Err(format!("must be at most {MAX_PREFIX} characters"));
    }
    for label in name.split('.') {
        let bytes = label.as_bytes();
        let ends_ok = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
        let valid = !bytes.is_empty()
            && bytes.first().is_some_and(ends_ok)
            && bytes.last().is_some_and(ends_ok)
            && bytes
                .iter()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-');
        if !valid {
            return Err("must be a lower-case DNS subdomain (e.g. example.com)".to_string());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use regex::Regex;

    const KEYS: &[(&str, bool)] = &[
        ("app", true),
        ("app.kubernetes.io/name", true),
        ("openlit.io/inject", true),
        ("a", true),
        ("A_b.c-D", true),
        ("", false),
        ("-app", false),
        ("app-", false),
        ("my app", false),
        ("Example.com/app", false),
        ("/app", false),
        ("example.com/", false),
        ("a/b/c", false),
        ("app$", false),
    ];

    const VALUES: &[(&str, bool)] = &[
        ("", true),
        ("web", true),
        ("v1.2.3", true),
        ("Prod_2", true),
        ("-web", false),
        ("web.", false),
        ("two words", false),
        ("a/b", false),
    ];

    #[test]
    fn label_keys() {
        for (key, valid) in KEYS {
            assert_eq!(check_label_key(key).is_ok(), *valid, "key {key:?}");
        }
        assert!(check_label_key(&"a".repeat(63)).is_ok());
        assert!(check_label_key(&"a".repeat(64)).is_err());
        let longest = format!("{}/{}", "p".repeat(MAX_PREFIX), "n".repeat(MAX_NAME));
        assert_eq!(longest.len(), MAX_LABEL_KEY_LEN);
        assert!(check_label_key(&longest).is_ok());
        assert_eq!(
            check_label_key(&format!("{longest}n")),
            Err("must be at most 317 characters".to_string())
        );
    }

    #[test]
    fn label_values() {
        for (value, valid) in VALUES {
            assert_eq!(check_label_value(value).is_ok(), *valid, "value {value:?}");
        }
        assert!(check_label_value(&"v".repeat(64)).is_err());
    }

    #[test]
    fn schema_patterns_agree_with_the_checks() {
        let key = Regex::new(LABEL_KEY_PATTERN).unwrap();
        for (k, valid) in KEYS {
            assert_eq!(key.is_match(k), *valid, "key pattern on {k:?}");
        }
        let value = Regex::new(LABEL_VALUE_PATTERN).unwrap();
        for (v, valid) in VALUES {
            assert_eq!(value.is_match(v), *valid, "value pattern on {v:?}");
        }
    }

    #[test]
    fn messages_name_the_problem() {
        let err = check_label_key("my app").unwrap_err();
        assert!(err.contains("contains ' '"), "{err}");
        let err = check_label_key("Example.com/app").unwrap_err();
        assert!(err.contains("prefix 'Example.com'"), "{err}");
    }
}
