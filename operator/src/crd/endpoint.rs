//! The OTLP endpoint URL: `http` or `https`, a host (DNS name, IPv4 address or bracketed IPv6
//! literal), an optional port and an optional path. The exporter appends `/v1/traces` and friends
//! to it, so query strings, fragments and credentials are refused.

use std::net::{Ipv4Addr, Ipv6Addr};

use thiserror::Error;

use super::limits::{MAX_ENDPOINT_LEN, char_len};

/// Schema pattern accepting every endpoint [`parse_endpoint`] accepts.
pub const ENDPOINT_PATTERN: &str = r"^https?://[^\s/?#@]+(/[^\s?#]*)?$";

/// The host part of an endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Host {
    /// A DNS name such as `openlit.openlit.svc`.
    Dns(String),
    /// A dotted IPv4 address.
    Ipv4(Ipv4Addr),
    /// An IPv6 literal written in brackets in the URL.
    Ipv6(Ipv6Addr),
}

/// A valid OTLP endpoint, split into its parts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// `http` or `https`.
    pub scheme: String,
    /// Where to connect.
    pub host: Host,
    /// The port, when given.
    pub port: Option<u16>,
    /// The path, possibly empty (never containing `?` or `#`).
    pub path: String,
}

/// Why an endpoint is not usable.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum EndpointError {
    /// The endpoint is empty.
    #[error("the endpoint is empty")]
    Empty,
    /// The endpoint is longer than [`MAX_ENDPOINT_LEN`] characters.
    #[error("it is {0} characters long; at most {MAX_ENDPOINT_LEN} are allowed")]
    TooLong(usize),
    /// Whitespace or control characters appear in the endpoint.
    #[error("it must not contain whitespace or control characters")]
    Whitespace,
    /// No `scheme://` prefix.
    #[error("missing scheme: it must start with http:// or https://")]
    MissingScheme,
    /// A scheme other than `http` or `https`.
    #[error("unsupported scheme '{0}': use http or https")]
    UnsupportedScheme(String),
    /// `user:password@` before the host.
    #[error("credentials in the URL are not supported; use otlp.headers")]
    Credentials,
    /// Nothing between `://` and the path.
    #[error("missing host")]
    MissingHost,
    /// The host is not a DNS name, IPv4 address or bracketed IPv6 literal.
    #[error("invalid host '{0}'")]
    Host(String),
    /// The port is not a number from 1 to 65535.
    #[error("invalid port '{0}': expected a number from 1 to 65535")]
    Port(String),
    /// A `?query` or `#fragment` was given.
    #[error("query strings and fragments are not supported")]
    QueryOrFragment,
}

/// Parses an OTLP endpoint such as `http://openlit.openlit.svc:4318` or `http://[::1]:4318`.
pub fn parse_endpoint(endpoint: &str) -> Result<Endpoint, EndpointError> {
    if endpoint.is_empty() {
        return Err(EndpointError::Empty);
    }
    if endpoint.len() > MAX_ENDPOINT_LEN && char_len(endpoint) > MAX_ENDPOINT_LEN {
        return Err(EndpointError::TooLong(char_len(endpoint)));
    }
    if endpoint
        .chars()
        .any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(EndpointError::Whitespace);
    }
    let (scheme, rest) = endpoint
        .split_once("://")
        .ok_or(EndpointError::MissingScheme)?;
    if scheme != "http" && scheme != "https" {
        return Err(EndpointError::UnsupportedScheme(scheme.to_string()));
    }
    if rest.contains(['?', '#']) {
        return Err(EndpointError::QueryOrFragment);
    }
    let (authority, path) = match rest.find('/') {
        Some(slash) => (&rest[..slash], &rest[slash..]),
        None => (rest, ""),
    };
    if authority.contains('@') {
        return Err(EndpointError::Credentials);
    }
    if authority.is_empty() {
        return Err(EndpointError::MissingHost);
    }
    let (host, port) = split_host_port(authority)?;
    Ok(Endpoint {
        scheme: scheme.to_string(),
        host,
        port,
        path: path.to_string(),
    })
}

fn split_host_port(authority: &str) -> Result<(Host, Option<u16>), EndpointError> {
    let bad_host = || EndpointError::Host(authority.to_string());
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (literal, after) = rest.split_once(']').ok_or_else(bad_host)?;
        let address = literal.parse::<Ipv6Addr>().map_err(|_| bad_host())?;
        let port = match after {
            "" => None,
            _ => Some(after.strip_prefix(':').ok_or_else(bad_host)?),
        };
        (Host::Ipv6(address), port)
    } else {
        let (name, port) = match authority.split_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (authority, None),
        };
        (
            parse_host(name).ok_or_else(|| EndpointError::Host(name.to_string()))?,
            port,
        )
    };
    let port = port.map(parse_port).transpose()?;
    Ok((host, port))
}

fn parse_port(port: &str) -> Result<u16, EndpointError> {
    let bad = || EndpointError::Port(port.to_string());
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    match port.parse::<u16>() {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(bad()),
    }
}

/// A DNS name (labels of letters, digits and inner hyphens, at most 63 characters each, 253 in
/// total, optionally with a trailing dot) or an IPv4 address when every label is numeric.
fn parse_host(name: &str) -> Option<Host> {
    if name.is_empty() {
        return None;
    }
    let trimmed = name.strip_suffix('.').unwrap_or(name);
    let labels: Vec<&str> = trimmed.split('.').collect();
    if labels
        .iter()
        .all(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_digit()))
    {
        return trimmed.parse::<Ipv4Addr>().ok().map(Host::Ipv4);
    }
    let label_ok = |label: &&str| {
        let bytes = label.as_bytes();
        bytes.len() <= 63
            && bytes.first().is_some_and(u8::is_ascii_alphanumeric)
            && bytes.last().is_some_and(u8::is_ascii_alphanumeric)
            && bytes
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || *b == b'-')
    };
    (trimmed.len() <= 253 && labels.iter().all(label_ok)).then(|| Host::Dns(name.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use regex::Regex;

    const VALID: &[&str] = &[
        "http://openlit.openlit.svc:4318",
        "http://openlit.openlit.svc.cluster.local:4318/",
        "https://otel.example.com",
        "https://otel.example.com/otlp",
        "http://localhost:4318",
        "http://10.0.0.12:4318",
        "http://[::1]:4318",
        "http://[2001:db8::7]/otlp",
        "https://collector:443/api/v1/traces",
        "http://a-b.example.com.:4318",
        "http://x/%7Euser",
    ];

    #[test]
    fn accepts_valid_endpoints() {
        for endpoint in VALID {
            assert!(
                parse_endpoint(endpoint).is_ok(),
                "{endpoint}: {:?}",
                parse_endpoint(endpoint)
            );
        }
    }

    #[test]
    fn splits_into_parts() {
        let e = parse_endpoint("http://[::1]:4318/otlp").unwrap();
        assert_eq!(e.scheme, "http");
        assert_eq!(e.host, Host::Ipv6(Ipv6Addr::LOCALHOST));
        assert_eq!(e.port, Some(4318));
        assert_eq!(e.path, "/otlp");

        let e = parse_endpoint("https://10.1.2.3").unwrap();
        assert_eq!(e.host, Host::Ipv4(Ipv4Addr::new(10, 1, 2, 3)));
        assert_eq!(e.port, None);
        assert_eq!(e.path, "");

        let e = parse_endpoint("http://openlit.openlit.svc:4318").unwrap();
        assert_eq!(e.host, Host::Dns("openlit.openlit.svc".into()));
    }

    #[test]
    fn rejects_invalid_endpoints_with_the_reason() {
        use EndpointError::*;
        let cases: &[(&str, EndpointError)] = &[
            ("", Empty),
            ("http://invalid url with spaces", Whitespace),
            ("http://host:4318\n", Whitespace),
            ("openlit.openlit.svc:4318", MissingScheme),
            ("//host:4318", MissingScheme),
            ("://host:4318", UnsupportedScheme("".into())),
            ("ftp://host:21", UnsupportedScheme("ftp".into())),
            ("HTTP://host", UnsupportedScheme("HTTP".into())),
            ("grpc://host:4317", UnsupportedScheme("grpc".into())),
            ("http://", MissingHost),
            ("http:///path", MissingHost),
            ("http://user:pw@host", Credentials),
            ("http://host?x=1", QueryOrFragment),
            ("http://host/#frag", QueryOrFragment),
            ("http://bad_host:4318", Host("bad_host".into())),
            ("http://-host", Host("-host".into())),
            ("http://a..b", Host("a..b".into())),
            ("http://999.1.1.1:4318", Host("999.1.1.1".into())),
            ("http://::1:4318", Host("".into())),
            ("http://[::1", Host("[::1".into())),
            ("http://[::g]:4318", Host("[::g]:4318".into())),
            ("http://[::1]4318", Host("[::1]4318".into())),
            ("http://host:", Port("".into())),
            ("http://host:0", Port("0".into())),
            ("http://host:65536", Port("65536".into())),
            ("http://host:43a8", Port("43a8".into())),
            ("http://host:1:2", Port("1:2".into())),
        ];
        for (endpoint, expected) in cases {
            assert_eq!(
                parse_endpoint(endpoint),
                Err(expected.clone()),
                "{endpoint:?}"
            );
        }
    }

    #[test]
    fn endpoints_over_the_length_limit_are_rejected() {
        let base = "http://collector:4318/";
        let fits = format!("{base}{}", "p".repeat(MAX_ENDPOINT_LEN - base.len()));
        assert!(parse_endpoint(&fits).is_ok());
        let long = format!("{fits}p");
        assert_eq!(
            parse_endpoint(&long),
            Err(EndpointError::TooLong(MAX_ENDPOINT_LEN + 1))
        );
        assert_eq!(
            EndpointError::TooLong(2049).to_string(),
            "it is 2049 characters long; at most 2048 are allowed"
        );
    }

    #[test]
    fn long_labels_are_rejected() {
        let long = format!("http://{}.example.com", "a".repeat(64));
        assert!(matches!(parse_endpoint(&long), Err(EndpointError::Host(_))));
    }

    #[test]
    fn schema_pattern_accepts_everything_the_parser_accepts() {
        let pattern = Regex::new(ENDPOINT_PATTERN).unwrap();
        for endpoint in VALID {
            assert!(pattern.is_match(endpoint), "{endpoint}");
        }
        for endpoint in [
            "http://a b",
            "ftp://x",
            "x:4318",
            "http://u@h",
            "http://h?q",
        ] {
            assert!(!pattern.is_match(endpoint), "{endpoint}");
        }
    }
}
