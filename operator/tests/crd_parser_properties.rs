//! Properties of the field parsers over generated input: they never panic, whatever they accept
//! also passes the CRD schema pattern for that field, and accepted custom packages are safe to
//! pass to pip one argument each.

use openlit_operator::crd::endpoint::{ENDPOINT_PATTERN, parse_endpoint};
use openlit_operator::crd::headers::{HEADERS_PATTERN, parse_headers};
use openlit_operator::crd::image_ref::{IMAGE_REFERENCE_PATTERN, parse_image_reference};
use openlit_operator::crd::quantity::parse_quantity;
use openlit_operator::crd::requirements::CUSTOM_PACKAGES_PATTERN;
use openlit_operator::crd::{AutoInstrumentationSpec, parse_custom_packages, validate_spec};
use proptest::prelude::*;
use regex::Regex;

/// Text biased towards the characters these grammars care about, plus arbitrary Unicode.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z0-9.:/@_\\-\\[\\] ,;<>=!~\"'|&$`()*+#?%\n]{0,40}",
        "\\PC{0,20}",
    ]
}

fn requirement() -> impl Strategy<Value = String> {
    (
        "[a-zA-Z0-9]([a-zA-Z0-9._-]{0,8}[a-zA-Z0-9])?",
        proptest::option::of("\\[[a-z]{1,5}(, ?[a-z]{1,5}){0,2}\\]"),
        proptest::collection::vec(
            (
                "(==|!=|<=|>=|<|>|~=|===)",
                "[0-9]{1,2}(\\.[0-9*]{1,2}){0,2}",
            ),
            0..3,
        ),
        proptest::option::of(
            "; (python_version|sys_platform|extra) (==|>=|!=|in|not in) '[a-z0-9., ]{0,6}'",
        ),
    )
        .prop_map(|(name, extras, specifiers, marker)| {
            let specifiers: Vec<String> = specifiers
                .into_iter()
                .map(|(op, v)| format!("{op}{v}"))
                .collect();
            format!(
                "{name}{}{}{}",
                extras.unwrap_or_default(),
                specifiers.join(","),
                marker.unwrap_or_default()
            )
        })
}

proptest! {
    #[test]
    fn image_references_accepted_by_code_pass_the_schema(input in text()) {
        if parse_image_reference(&input).is_ok() {
            prop_assert!(Regex::new(IMAGE_REFERENCE_PATTERN).unwrap().is_match(&input));
        }
    }

    #[test]
    fn endpoints_accepted_by_code_pass_the_schema(input in text()) {
        if parse_endpoint(&input).is_ok() {
            prop_assert!(Regex::new(ENDPOINT_PATTERN).unwrap().is_match(&input));
        }
    }

    #[test]
    fn headers_accepted_by_code_pass_the_schema(input in text()) {
        if parse_headers(&input).is_ok() {
            prop_assert!(Regex::new(HEADERS_PATTERN).unwrap().is_match(&input));
        }
    }

    #[test]
    fn quantities_never_panic(input in text()) {
        let _ = parse_quantity(&input);
    }

    #[test]
    fn accepted_packages_are_safe_single_arguments(input in text()) {
        if let Ok(items) = parse_custom_packages(&input) {
            prop_assert!(Regex::new(CUSTOM_PACKAGES_PATTERN).unwrap().is_match(&input));
            for item in items {
                prop_assert!(!item.is_empty());
                prop_assert_eq!(item.trim(), item.as_str());
                prop_assert!(!item.contains(['|', '&', '$', '`', '\\', '\n', '\r']), "{}", item);
                prop_assert!(!item.starts_with('-'), "{}", item);
                prop_assert_eq!(parse_custom_packages(&item), Ok(vec![item.clone()]));
            }
        }
    }

    #[test]
    fn generated_requirement_lists_round_trip(items in proptest::collection::vec(requirement(), 1..4)) {
        let list = items.join(", ");
        prop_assert_eq!(parse_custom_packages(&list), Ok(items));
    }

    #[test]
    fn validation_never_panics(endpoint in text(), image in text(), packages in text(), headers in text(), version in text()) {
        let yaml = serde_json::json!({
            "selector": {"matchLabels": {"app": "x"}},
            "python": {"instrumentation": {
                "customInitImage": image,
                "customPackages": packages,
                "version": version,
            }},
            "otlp": {"endpoint": endpoint, "headers": headers},
        });
        let spec: AutoInstrumentationSpec = serde_json::from_value(yaml).unwrap();
        let _ = validate_spec(&spec);
    }
}
