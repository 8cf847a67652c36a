//! `otlp.headers` in the OpenTelemetry `key=value,key2=value2` form
//! (`OTEL_EXPORTER_OTLP_HEADERS`).

use super::limits::{MAX_HEADERS_LEN, check_len};

/// Schema pattern accepting every header list [`parse_headers`] accepts (it only checks that the
/// first entry starts with `key=`).
pub const HEADERS_PATTERN: &str = r"^[\s,]*([-!#$%&'*+.^_`|~0-9A-Za-z]+\s*=|$)";

/// Splits a header list into `(key, value)` pairs, both trimmed. Keys are HTTP header names
/// (token characters); values may hold anything but commas and control characters (OTel asks for
/// percent-encoding of special characters). Empty entries, as left by a trailing comma, are
/// skipped like the OpenTelemetry SDKs do. A list longer than [`MAX_HEADERS_LEN`] characters is
/// refused as a whole.
pub fn parse_headers(headers: &str) -> Result<Vec<(String, String)>, String> {
    check_len("the list", headers, MAX_HEADERS_LEN)?;
    headers
        .split(',')
        .enumerate()
        .filter(|(_, entry)| !entry.trim().is_empty())
        .map(|(index, entry)| {
            let entry = entry.trim();
            let Some((key, value)) = entry.split_once('=') else {
                return Err(format!(
                    "entry {} ('{entry}') is not in key=value form",
                    index + 1
                ));
            };
            let (key, value) = (key.trim(), value.trim());
            if key.is_empty() || !key.bytes().all(is_token_char) {
                return Err(format!(
                    "entry {} has an invalid header name '{key}'",
                    index + 1
                ));
            }
            if value.chars().any(char::is_control) {
                return Err(format!(
                    "entry {} ('{key}') has a control character in its value",
                    index + 1
                ));
            }
            Ok((key.to_string(), value.to_string()))
        })
        .collect()
}

/// RFC 9110 token characters, the characters of a header name.
fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use regex::Regex;

    #[test]
    fn accepts_header_lists() {
        let cases: &[(&str, &[(&str, &str)])] = &[
            ("api-key=secret", &[("api-key", "secret")]),
            (
                "Authorization=Bearer%20abc, x-tenant = t1",
                &[("Authorization", "Bearer%20abc"), ("x-tenant", "t1")],
            ),
            ("x.custom_header=", &[("x.custom_header", "")]),
            ("k=a=b", &[("k", "a=b")]),
            ("a=1,", &[("a", "1")]),
            (" , a=1,,b=2", &[("a", "1"), ("b", "2")]),
            ("", &[]),
        ];
        for (headers, expected) in cases {
            let parsed = parse_headers(headers).unwrap();
            let parsed: Vec<(&str, &str)> = parsed
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            assert_eq!(&parsed, expected, "{headers}");
        }
    }

    #[test]
    fn refuses_malformed_lists() {
        let cases = [
            ("token", "entry 1 ('token') is not in key=value form"),
            ("a=1,b", "entry 2 ('b') is not in key=value form"),
            ("=value", "entry 1 has an invalid header name ''"),
            ("bad key=1", "entry 1 has an invalid header name 'bad key'"),
            (
                "k=line\nbreak",
                "entry 1 ('k') has a control character in its value",
            ),
        ];
        for (headers, expected) in cases {
            assert_eq!(
                parse_headers(headers),
                Err(expected.to_string()),
                "{headers:?}"
            );
        }
    }

    #[test]
    fn lists_over_the_length_limit_are_refused() {
        let fits = format!("k={}", "v".repeat(MAX_HEADERS_LEN - 2));
        assert!(parse_headers(&fits).is_ok());
        assert_eq!(
            parse_headers(&format!("{fits}v")),
            Err("the list is 8193 characters long; at most 8192 are allowed".to_string())
        );
    }

    #[test]
    fn schema_pattern_accepts_everything_the_parser_accepts() {
        let pattern = Regex::new(HEADERS_PATTERN).unwrap();
        for ok in ["api-key=secret", " x.y = 1,b=2", "k=", ",a=1", ", ", ""] {
            assert!(parse_headers(ok).is_ok() && pattern.is_match(ok), "{ok}");
        }
        for bad in ["token", "=v", ",token"] {
            assert!(!pattern.is_match(bad), "{bad}");
        }
    }
}
