//! Kubernetes resource quantities (`500m`, `1.5`, `256Mi`, `1e3`) and the init container's
//! `resources`, which the API server checks when the pod is created: a bad quantity or a request
//! above its limit there would make the pod itself be refused.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::ResourceRequirements;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use super::limits::{
    MAX_LABEL_KEY_LEN, MAX_QUANTITY_LEN, MAX_RESOURCE_ENTRIES, check_count, check_len,
};

/// Parses a quantity to its numeric value. Returns `None` when the text is not a quantity or is
/// longer than [`MAX_QUANTITY_LEN`].
pub fn parse_quantity(text: &str) -> Option<f64> {
    if text.len() > MAX_QUANTITY_LEN {
        return None;
    }
    let (number, suffix) = split_number(text)?;
    let value: f64 = number.parse().ok()?;
    let scale = match suffix {
        "" => 1.0,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024f64,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        _ => {
            let exponent = suffix.strip_prefix(['e', 'E'])?;
            let digits = exponent.strip_prefix(['+', '-']).unwrap_or(exponent);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            10f64.powi(exponent.parse().ok()?)
        }
    };
    Some(value * scale)
}

/// Splits `[sign]digits[.digits]` from the suffix, requiring at least one digit.
fn split_number(text: &str) -> Option<(&str, &str)> {
    let unsigned = text.strip_prefix(['+', '-']).unwrap_or(text);
    let sign_len = text.len() - unsigned.len();
    let mut end = 0;
    let mut digits = 0;
    let mut dot = false;
    for b in unsigned.bytes() {
        match b {
            b'0'..=b'9' => digits += 1,
            b'.' if !dot => dot = true,
            _ => break,
        }
        end += 1;
    }
    (digits > 0).then(|| text.split_at(sign_len + end))
}

/// Problems in the init container's `resources`, each naming the field. Maps and claims over
/// [`MAX_RESOURCE_ENTRIES`] entries are reported without being looked at further.
pub fn check_resources(resources: &ResourceRequirements, path: &str) -> Vec<String> {
    let mut errors = Vec::new();
    let sizes = [
        (
            "requests",
            resources.requests.as_ref().map_or(0, BTreeMap::len),
        ),
        ("limits", resources.limits.as_ref().map_or(0, BTreeMap::len)),
        ("claims", resources.claims.as_ref().map_or(0, Vec::len)),
    ];
    for (field, count) in sizes {
        if let Err(message) = check_count(&format!("{path}.{field}"), count, MAX_RESOURCE_ENTRIES) {
            errors.push(message);
        }
    }
    if !errors.is_empty() {
        return errors;
    }
    for (index, claim) in resources.claims.iter().flatten().enumerate() {
        let fields = [
            ("name", Some(&claim.name)),
            ("request", claim.request.as_ref()),
        ];
        for (field, value) in fields {
            if let Some(value) = value
                && let Err(message) = check_len(
                    &format!("{path}.claims[{index}].{field}"),
                    value,
                    MAX_QUANTITY_LEN,
                )
            {
                errors.push(message);
            }
        }
    }
    let requests = parse_all(
        &resources.requests,
        &format!("{path}.requests"),
        &mut errors,
    );
    let limits = parse_all(&resources.limits, &format!("{path}.limits"), &mut errors);
    for (name, (request, request_text)) in &requests {
        if let Some((limit, limit_text)) = limits.get(name)
            && request > limit
        {
            errors.push(format!(
                "{path}.requests['{name}'] ({request_text}) is greater than its limit ({limit_text})"
            ));
        }
    }
    errors
}

/// The valid, non-negative quantities of a requests or limits map, by resource name; problems
/// go to `errors`.
fn parse_all<'a>(
    map: &'a Option<BTreeMap<String, Quantity>>,
    path: &str,
    errors: &mut Vec<String>,
) -> BTreeMap<&'a str, (f64, &'a str)> {
    let mut values = BTreeMap::new();
    for (name, Quantity(text)) in map.iter().flatten() {
        if let Err(message) = check_len(&format!("{path} key"), name, MAX_LABEL_KEY_LEN)
            .and_then(|()| check_len(&format!("{path}['{name}']"), text, MAX_QUANTITY_LEN))
        {
            errors.push(message);
            continue;
        }
        match parse_quantity(text) {
            Some(value) if value >= 0.0 => {
                values.insert(name.as_str(), (value, text.as_str()));
            }
            Some(_) => errors.push(format!("{path}['{name}'] '{text}' must not be negative")),
            None => errors.push(format!(
                "{path}['{name}'] '{text}' is not a valid quantity (e.g. 500m, 1, 256Mi)"
            )),
        }
    }
    values
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_quantities() {
        let cases = [
            ("1", 1.0),
            ("0", 0.0),
            ("500m", 0.5),
            ("1.5", 1.5),
            (".5", 0.5),
            ("2.", 2.0),
            ("128Mi", 128.0 * 1024.0 * 1024.0),
            ("1Gi", 1024f64.powi(3)),
            ("1k", 1000.0),
            ("1M", 1e6),
            ("1e3", 1000.0),
            ("1E-3", 0.001),
            ("+2", 2.0),
            ("-1", -1.0),
        ];
        for (text, expected) in cases {
            let value = parse_quantity(text).unwrap_or_else(|| panic!("{text} should parse"));
            assert!(
                (value - expected).abs() < 1e-9 * expected.abs().max(1.0),
                "{text}: {value}"
            );
        }
    }

    #[test]
    fn rejects_non_quantities() {
        for text in [
            "", "m", "Mi", "1x", "1 Mi", "1mi", "1KB", "1.2.3", "lots", "1e", "1e+", "--1", "1Mi2",
        ] {
            assert_eq!(parse_quantity(text), None, "{text}");
        }
    }

    fn map(pairs: &[(&str, &str)]) -> Option<BTreeMap<String, Quantity>> {
        Some(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), Quantity(v.to_string())))
                .collect(),
        )
    }

    #[test]
    fn oversized_resources_are_refused_with_the_limit() {
        let many: Vec<(String, String)> = (0..=MAX_RESOURCE_ENTRIES)
            .map(|i| (format!("example.com/r{i}"), "1".to_string()))
            .collect();
        let many: Vec<(&str, &str)> = many.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let resources = ResourceRequirements {
            requests: map(&many),
            ..Default::default()
        };
        assert_eq!(
            check_resources(&resources, "r"),
            ["r.requests has 17 entries; at most 16 are allowed"]
        );
        let long = "1".repeat(MAX_QUANTITY_LEN + 1);
        let resources = ResourceRequirements {
            limits: map(&[("cpu", long.as_str())]),
            ..Default::default()
        };
        assert_eq!(
            check_resources(&resources, "r"),
            ["r.limits['cpu'] is 65 characters long; at most 64 are allowed"]
        );
        assert_eq!(parse_quantity(&long), None);
    }

    #[test]
    fn checks_requests_against_limits() {
        let ok = ResourceRequirements {
            requests: map(&[("cpu", "100m"), ("memory", "128Mi")]),
            limits: map(&[("cpu", "200m"), ("memory", "0.25Gi")]),
            ..Default::default()
        };
        assert!(check_resources(&ok, "r").is_empty());

        let bad = ResourceRequirements {
            requests: map(&[("cpu", "1"), ("memory", "lots")]),
            limits: map(&[("cpu", "500m"), ("ephemeral-storage", "-1")]),
            ..Default::default()
        };
        assert_eq!(
            check_resources(&bad, "r"),
            [
                "r.requests['memory'] 'lots' is not a valid quantity (e.g. 500m, 1, 256Mi)",
                "r.limits['ephemeral-storage'] '-1' must not be negative",
                "r.requests['cpu'] (1) is greater than its limit (500m)",
            ]
        );
    }
}
