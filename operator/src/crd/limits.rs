//! Size limits of the resource's fields. Each constant is used twice: by the generated CRD
//! (`maxLength`, `maxItems`, `maxProperties`), so the API server refuses an oversized resource,
//! and by validation, so a resource stored under an older CRD without limits is refused by the
//! operator with a message instead of costing it unbounded work. Lengths count characters, as the
//! API server's `maxLength` does.

/// `otlp.endpoint`.
pub const MAX_ENDPOINT_LEN: usize = 2048;
/// `otlp.headers` (API keys and bearer tokens can be long).
pub const MAX_HEADERS_LEN: usize = 8192;
/// `python.instrumentation.customPackages`, the whole comma-separated list.
pub const MAX_CUSTOM_PACKAGES_LEN: usize = 16 * 1024;
/// Parentheses nesting allowed inside one environment marker of `customPackages`.
pub const MAX_MARKER_NESTING: usize = 32;
/// `python.instrumentation.customInitImage` and `go.image`.
pub const MAX_IMAGE_REFERENCE_LEN: usize = 1024;
/// `python.instrumentation.version`, an image tag.
pub const MAX_VERSION_LEN: usize = 128;
/// Entries of `python.instrumentation.env` and `go.env`.
pub const MAX_ENV_ENTRIES: usize = 128;
/// An environment variable's `name`.
pub const MAX_ENV_NAME_LEN: usize = 256;
/// An environment variable's literal `value`.
pub const MAX_ENV_VALUE_LEN: usize = 16 * 1024;
/// Every string inside an environment variable's `valueFrom` (object names, keys, field paths,
/// container and resource names, divisors) and inside `otlp.headersFrom`.
pub const MAX_REFERENCE_LEN: usize = 512;
/// Keys of `matchLabels` and `matchExpressions[].key`: a 253-character prefix, `/` and a
/// 63-character name.
pub const MAX_LABEL_KEY_LEN: usize = 317;
/// Label values in selectors.
pub const MAX_LABEL_VALUE_LEN: usize = 63;
/// Entries of a selector's `matchLabels`.
pub const MAX_MATCH_LABELS: usize = 64;
/// Entries of a selector's `matchExpressions`.
pub const MAX_MATCH_EXPRESSIONS: usize = 64;
/// Values of one `matchExpressions` entry.
pub const MAX_SELECTOR_VALUES: usize = 256;
/// `resource.environment`.
pub const MAX_ENVIRONMENT_LEN: usize = 256;
/// Entries of the init container's `resources.requests` and `resources.limits`, and of
/// `resources.claims`.
pub const MAX_RESOURCE_ENTRIES: usize = 16;
/// A quantity such as `500m` or `256Mi`, and a claim's name or request.
pub const MAX_QUANTITY_LEN: usize = 64;

/// The longest of `values`, in bytes: the schema's `maxLength` of an enumerated field (its values
/// are ASCII, so bytes are characters).
pub const fn longest(values: &[&str]) -> usize {
    let mut max = 0;
    let mut i = 0;
    while i < values.len() {
        if values[i].len() > max {
            max = values[i].len();
        }
        i += 1;
    }
    max
}

/// The length of `text` as the API server measures `maxLength`: in characters.
pub fn char_len(text: &str) -> usize {
    text.chars().count()
}

/// `Err` with a message naming `field` and the limit when `text` is longer than `max`
/// characters; the text itself is not quoted.
pub fn check_len(field: &str, text: &str, max: usize) -> Result<(), String> {
    let len = char_len(text);
    if len > max {
        Err(format!(
            "{field} is {len} characters long; at most {max} are allowed"
        ))
    } else {
        Ok(())
    }
}

/// `Err` with a message naming `field` and the limit when a list or map holds more than `max`
/// entries.
pub fn check_count(field: &str, count: usize, max: usize) -> Result<(), String> {
    if count > max {
        Err(format!(
            "{field} has {count} entries; at most {max} are allowed"
        ))
    } else {
        Ok(())
    }
}

/// `text` for a message, cut after [`QUOTE_CHARS`] characters (with the full length noted) so
/// that a long value cannot make a long message.
pub fn shorten(text: &str) -> std::borrow::Cow<'_, str> {
    match text.char_indices().nth(QUOTE_CHARS) {
        None => std::borrow::Cow::Borrowed(text),
        Some((cut, _)) => std::borrow::Cow::Owned(format!(
            "{}... ({} characters)",
            &text[..cut],
            char_len(text)
        )),
    }
}

/// `text` quoted for a message, cut after [`QUOTE_CHARS`] characters so that a long value
/// cannot make a long message.
pub fn quote(text: &str) -> String {
    match text.char_indices().nth(QUOTE_CHARS) {
        None => format!("{text:?}"),
        Some((cut, _)) => format!("{:?}... ({} characters)", &text[..cut], char_len(text)),
    }
}

/// How much of a value [`quote`] shows.
pub const QUOTE_CHARS: usize = 64;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_are_counted_in_characters() {
        assert_eq!(char_len("héllo"), 5);
        assert!(check_len("f", &"é".repeat(4), 4).is_ok());
        assert_eq!(
            check_len("spec.x", "abcde", 4),
            Err("spec.x is 5 characters long; at most 4 are allowed".to_string())
        );
        assert_eq!(
            check_count("spec.y", 3, 2),
            Err("spec.y has 3 entries; at most 2 are allowed".to_string())
        );
        assert!(check_count("spec.y", 2, 2).is_ok());
    }

    #[test]
    fn long_values_are_quoted_in_part() {
        assert_eq!(quote("a\"b"), "\"a\\\"b\"");
        let long = "x".repeat(100);
        assert_eq!(
            quote(&long),
            format!("{:?}... (100 characters)", "x".repeat(64))
        );
        assert_eq!(quote(&"y".repeat(64)), format!("{:?}", "y".repeat(64)));
        assert_eq!(shorten("In"), "In");
        assert_eq!(
            shorten(&long),
            format!("{}... (100 characters)", "x".repeat(64))
        );
        assert_eq!(longest(&["In", "DoesNotExist", "x"]), 12);
    }
}
