//! OCI image references (`[registry[:port]/]repository[:tag][@digest]`), following the grammar of
//! the distribution project's reference package.

use std::net::Ipv6Addr;

use thiserror::Error;

use super::limits::{MAX_IMAGE_REFERENCE_LEN, char_len};

/// Longest accepted `registry/repository` part.
const MAX_NAME_LEN: usize = 255;
/// Longest accepted tag.
const MAX_TAG_LEN: usize = super::limits::MAX_VERSION_LEN;

/// Schema pattern accepting every reference [`parse_image_reference`] accepts (it is looser on
/// lengths, port ranges and IPv6 literals, which are checked in code).
pub const IMAGE_REFERENCE_PATTERN: &str = concat!(
    r"^(([a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:.]+\])(:[0-9]+)?/)?",
    r"[a-z0-9]+(([._]|__|-+)[a-z0-9]+)*(/[a-z0-9]+(([._]|__|-+)[a-z0-9]+)*)*",
    r"(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?",
    r"(@sha256:[a-f0-9]{64}|@sha512:[a-f0-9]{128})?$"
);

/// Schema pattern of an image tag.
pub const TAG_PATTERN: &str = r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$";

/// A syntactically valid image reference, split into its parts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageReference {
    /// Registry host with optional port, when the reference names one.
    pub registry: Option<String>,
    /// Repository path inside the registry, e.g. `openlit/openlit-ai-instrumentation`.
    pub repository: String,
    /// Tag, when given.
    pub tag: Option<String>,
    /// Digest (`sha256:<hex>` or `sha512:<hex>`), when given.
    pub digest: Option<String>,
}

/// Why a string is not a valid image reference.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum ImageRefError {
    /// Nothing was given.
    #[error("image reference is empty")]
    Empty,
    /// The whole reference is longer than [`MAX_IMAGE_REFERENCE_LEN`] characters.
    #[error(
        "image reference is {0} characters long; at most {MAX_IMAGE_REFERENCE_LEN} are allowed"
    )]
    ReferenceTooLong(usize),
    /// Whitespace or control characters appear in the reference.
    #[error("image reference must not contain whitespace or control characters")]
    Whitespace,
    /// The digest after `@` is malformed or uses an unknown algorithm.
    #[error(
        "invalid digest '{0}': expected sha256:<64 lower-case hex digits> or sha512:<128 lower-case hex digits>"
    )]
    Digest(String),
    /// The tag after `:` is malformed.
    #[error(
        "invalid tag '{0}': a tag is 1 to 128 letters, digits, '_', '.' or '-', not starting with '.' or '-'"
    )]
    Tag(String),
    /// The registry host is malformed.
    #[error("invalid registry host '{0}'")]
    Registry(String),
    /// The registry port is not a number from 1 to 65535.
    #[error("invalid registry port '{0}'")]
    Port(String),
    /// The repository path contains upper-case letters.
    #[error("repository path '{0}' must be lower case")]
    UpperCase(String),
    /// The repository path is otherwise malformed.
    #[error(
        "invalid repository path '{0}': components are lower-case letters and digits separated by '.', '_', '__' or '-'"
    )]
    Repository(String),
    /// The name is longer than registries accept.
    #[error("repository name is {0} characters long; at most 255 are allowed")]
    TooLong(usize),
}

/// Parses an OCI image reference such as `ghcr.io/openlit/img:1.2`,
/// `registry.example.com:5000/team/img:1.2` or `ghcr.io/x/y@sha256:<64 hex>`.
pub fn parse_image_reference(reference: &str) -> Result<ImageReference, ImageRefError> {
    if reference.is_empty() {
        return Err(ImageRefError::Empty);
    }
    if reference.len() > MAX_IMAGE_REFERENCE_LEN && char_len(reference) > MAX_IMAGE_REFERENCE_LEN {
        return Err(ImageRefError::ReferenceTooLong(char_len(reference)));
    }
    if reference
        .chars()
        .any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(ImageRefError::Whitespace);
    }
    let (name_and_tag, digest) = match reference.split_once('@') {
        Some((before, digest)) => (before, Some(check_digest(digest)?)),
        None => (reference, None),
    };
    let (name, tag) = split_tag(name_and_tag);
    if let Some(tag) = tag {
        check_tag(tag)?;
    }
    if name.len() > MAX_NAME_LEN {
        return Err(ImageRefError::TooLong(name.len()));
    }
    let (registry, repository) = split_registry(name);
    if let Some(registry) = registry {
        check_registry(registry)?;
    }
    check_repository(repository)?;
    Ok(ImageReference {
        registry: registry.map(str::to_string),
        repository: repository.to_string(),
        tag: tag.map(str::to_string),
        digest: digest.map(str::to_string),
    })
}

/// Checks an image tag on its own (as used for `version`).
pub fn check_tag(tag: &str) -> Result<(), ImageRefError> {
    let bytes = tag.as_bytes();
    let first_ok = bytes
        .first()
        .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_');
    let rest_ok = bytes
        .iter()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if first_ok && rest_ok && bytes.len() <= MAX_TAG_LEN {
        Ok(())
    } else {
        Err(ImageRefError::Tag(tag.to_string()))
    }
}

/// Splits `name[:tag]`; a `:` before the last `/` belongs to a registry port, not a tag.
fn split_tag(name_and_tag: &str) -> (&str, Option<&str>) {
    let last_slash = name_and_tag.rfind('/');
    match name_and_tag.rfind(':') {
        Some(colon) if last_slash.is_none_or(|slash| colon > slash) => {
            (&name_and_tag[..colon], Some(&name_and_tag[colon + 1..]))
        }
        _ => (name_and_tag, None),
    }
}

/// Splits off the registry: the first component is one when it contains `.` or `:`, is
/// `localhost`, or has upper-case letters (registries may; repositories may not).
fn split_registry(name: &str) -> (Option<&str>, &str) {
    match name.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':'])
                || first == "localhost"
                || first.bytes().any(|b| b.is_ascii_uppercase()) =>
        {
            (Some(first), rest)
        }
        _ => (None, name),
    }
}

fn check_digest(digest: &str) -> Result<&str, ImageRefError> {
    let bad = || ImageRefError::Digest(digest.to_string());
    let (algorithm, hex) = digest.split_once(':').ok_or_else(bad)?;
    let expected_len = match algorithm {
        "sha256" => 64,
        "sha512" => 128,
        _ => return Err(bad()),
    };
    let hex_ok = hex
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if hex.len() == expected_len && hex_ok {
        Ok(digest)
    } else {
        Err(bad())
    }
}

fn check_registry(registry: &str) -> Result<(), ImageRefError> {
    let bad_host = || ImageRefError::Registry(registry.to_string());
    let port = if let Some(rest) = registry.strip_prefix('[') {
        let (literal, after) = rest.split_once(']').ok_or_else(bad_host)?;
        literal.parse::<Ipv6Addr>().map_err(|_| bad_host())?;
        if after.is_empty() {
            None
        } else {
            Some(after.strip_prefix(':').ok_or_else(bad_host)?)
        }
    } else {
        let (host, port) = match registry.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (registry, None),
        };
        if !is_host(host) {
            return Err(bad_host());
        }
        port
    };
    if let Some(port) = port {
        let valid = !port.is_empty()
            && port.bytes().all(|b| b.is_ascii_digit())
            && port.parse::<u16>().is_ok_and(|p| p > 0);
        if !valid {
            return Err(ImageRefError::Port(port.to_string()));
        }
    }
    Ok(())
}

/// A DNS-style host: dot-separated components of letters, digits and inner hyphens.
fn is_host(host: &str) -> bool {
    host.split('.').all(|component| {
        let bytes = component.as_bytes();
        bytes.first().is_some_and(u8::is_ascii_alphanumeric)
            && bytes.last().is_some_and(u8::is_ascii_alphanumeric)
            && bytes
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || *b == b'-')
    })
}

fn check_repository(repository: &str) -> Result<(), ImageRefError> {
    if repository.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(ImageRefError::UpperCase(repository.to_string()));
    }
    if repository.split('/').all(is_path_component) {
        Ok(())
    } else {
        Err(ImageRefError::Repository(repository.to_string()))
    }
}

/// `[a-z0-9]+` runs joined by single separators `.`, `_`, `__` or any number of `-`.
fn is_path_component(component: &str) -> bool {
    let bytes = component.as_bytes();
    let alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if !bytes.first().is_some_and(alnum) || !bytes.last().is_some_and(alnum) {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        if alnum(&bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !alnum(&bytes[i]) {
            i += 1;
        }
        let separator = &component[start..i];
        let ok = matches!(separator, "." | "_" | "__") || separator.bytes().all(|b| b == b'-');
        if !ok {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use regex::Regex;

    const SHA256: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn valid_references() -> Vec<String> {
        vec![
            "busybox".into(),
            "busybox:1.36".into(),
            "ghcr.io/openlit/openlit-ai-instrumentation:latest".into(),
            "registry.example.com:5000/team/img:1.2".into(),
            "localhost:5000/img".into(),
            "localhost/img".into(),
            "[::1]:5000/img:dev".into(),
            "[2001:db8::1]/img".into(),
            "my-registry.local/a/b/c/d:v1.0.0-rc.1".into(),
            "docker.io/library/python:3.12-alpine".into(),
            "ghcr.io/x/y_z__w.v-a---b:tag_1".into(),
            format!("ghcr.io/x/y@sha256:{SHA256}"),
            format!("ghcr.io/x/y:1.0@sha256:{SHA256}"),
            format!("ghcr.io/x/y@sha512:{}", SHA256.repeat(2)),
            "Registry.Example.com/team/img".into(),
            format!("img:{}", "t".repeat(128)),
        ]
    }

    fn invalid_references() -> Vec<(String, ImageRefError)> {
        use ImageRefError::*;
        vec![
            ("".into(), Empty),
            ("ghcr.io/x/y :1".into(), Whitespace),
            ("ghcr.io/x/y\n".into(), Whitespace),
            ("ghcr.io/Team/img:1".into(), UpperCase("Team/img".into())),
            ("Img".into(), UpperCase("Img".into())),
            ("ghcr.io/x/y@sha256:abc".into(), Digest("sha256:abc".into())),
            (
                format!("ghcr.io/x/y@sha256:{}", SHA256.to_uppercase()),
                Digest(format!("sha256:{}", SHA256.to_uppercase())),
            ),
            (
                format!("ghcr.io/x/y@md5:{SHA256}"),
                Digest(format!("md5:{SHA256}")),
            ),
            (
                format!("ghcr.io/x/y@sha256:{SHA256}@sha256:{SHA256}"),
                Digest(format!("sha256:{SHA256}@sha256:{SHA256}")),
            ),
            ("ghcr.io/x/y:".into(), Tag("".into())),
            ("ghcr.io/x/y:-rc".into(), Tag("-rc".into())),
            ("ghcr.io/x/y:a+b".into(), Tag("a+b".into())),
            (format!("img:{}", "t".repeat(129)), Tag("t".repeat(129))),
            (
                "registry.example.com:99999/img".into(),
                Port("99999".into()),
            ),
            ("registry.example.com:/img".into(), Port("".into())),
            ("-bad.io/img".into(), Registry("-bad.io".into())),
            ("bad_host.io/img".into(), Registry("bad_host.io".into())),
            ("[::zz]:5000/img".into(), Registry("[::zz]:5000".into())),
            ("ghcr.io/x//y".into(), Repository("x//y".into())),
            ("ghcr.io/x/y-".into(), Repository("x/y-".into())),
            ("ghcr.io/x/.y".into(), Repository("x/.y".into())),
            ("ghcr.io/x/a...b".into(), Repository("x/a...b".into())),
            ("ghcr.io/".into(), Repository("".into())),
            (format!("ghcr.io/{}", "a".repeat(250)), TooLong(258)),
        ]
    }

    #[test]
    fn references_over_the_length_limit_are_refused() {
        let long = format!("registry.example.com/{}", "a/".repeat(600));
        assert_eq!(
            parse_image_reference(&long),
            Err(ImageRefError::ReferenceTooLong(long.len()))
        );
        assert_eq!(
            ImageRefError::ReferenceTooLong(1300).to_string(),
            "image reference is 1300 characters long; at most 1024 are allowed"
        );
    }

    #[test]
    fn accepts_valid_references() {
        for reference in valid_references() {
            assert!(
                parse_image_reference(&reference).is_ok(),
                "{reference:?}: {:?}",
                parse_image_reference(&reference)
            );
        }
    }

    #[test]
    fn rejects_invalid_references_with_the_reason() {
        for (reference, expected) in invalid_references() {
            assert_eq!(
                parse_image_reference(&reference),
                Err(expected),
                "{reference:?}"
            );
        }
    }

    #[test]
    fn splits_into_parts() {
        let parsed = parse_image_reference("registry.example.com:5000/team/img:1.2").unwrap();
        assert_eq!(
            parsed.registry.as_deref(),
            Some("registry.example.com:5000")
        );
        assert_eq!(parsed.repository, "team/img");
        assert_eq!(parsed.tag.as_deref(), Some("1.2"));
        assert_eq!(parsed.digest, None);

        let with_digest = format!("ghcr.io/x/y:1.0@sha256:{SHA256}");
        let parsed = parse_image_reference(&with_digest).unwrap();
        assert_eq!(parsed.registry.as_deref(), Some("ghcr.io"));
        assert_eq!(parsed.repository, "x/y");
        assert_eq!(parsed.tag.as_deref(), Some("1.0"));
        assert_eq!(parsed.digest, Some(format!("sha256:{SHA256}")));

        let parsed = parse_image_reference("team/img").unwrap();
        assert_eq!(parsed.registry, None);
        assert_eq!(parsed.repository, "team/img");
    }

    #[test]
    fn schema_pattern_accepts_everything_the_parser_accepts() {
        let pattern = Regex::new(IMAGE_REFERENCE_PATTERN).unwrap();
        for reference in valid_references() {
            assert!(pattern.is_match(&reference), "{reference:?}");
        }
    }

    #[test]
    fn schema_pattern_rejects_the_common_mistakes() {
        let pattern = Regex::new(IMAGE_REFERENCE_PATTERN).unwrap();
        for reference in [
            "ghcr.io/Team/img:1",
            "ghcr.io/x/y@sha256:abc",
            "ghcr.io/x/y :1",
            "ghcr.io/x/y:-rc",
            "",
        ] {
            assert!(!pattern.is_match(reference), "{reference:?}");
        }
    }

    #[test]
    fn tags() {
        for tag in ["latest", "1.2.3", "v1", "_x", "3.12-alpine"] {
            assert!(check_tag(tag).is_ok(), "{tag}");
        }
        for tag in ["", ".1", "-1", "a b", "a/b", "a:b"] {
            assert!(check_tag(tag).is_err(), "{tag}");
        }
        let pattern = Regex::new(TAG_PATTERN).unwrap();
        assert!(pattern.is_match("1.2.3") && !pattern.is_match("-1"));
    }
}
