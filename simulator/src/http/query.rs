//! Query-string parsing and request-target parsing for the REST paths.

use std::collections::HashMap;

/// Percent-decode a query component (`+` is a space).
pub fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match u8::from_str_radix(
                    std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"),
                    16,
                ) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parse a query string into a map (last value wins).
pub fn parse(q: Option<&str>) -> HashMap<String, String> {
    q.unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(p), String::new()),
        })
        .collect()
}

/// A REST request target under `/api/v1` or `/apis/<group>/<version>`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Target {
    /// API group.
    pub group: String,
    /// Version.
    pub version: String,
    /// Plural resource.
    pub resource: String,
    /// Namespace in the path, if any.
    pub namespace: Option<String>,
    /// Object name, if any.
    pub name: Option<String>,
    /// Subresource, if any.
    pub subresource: String,
    /// Whether the legacy `/watch/` prefix was used.
    pub watch_prefix: bool,
}

/// Parse the part after the group version, e.g. `namespaces/default/pods/p/status`.
pub fn target(group: &str, version: &str, rest: &[&str]) -> Option<Target> {
    let mut t = Target {
        group: group.into(),
        version: version.into(),
        ..Default::default()
    };
    let mut rest = rest;
    if rest.first() == Some(&"watch") {
        t.watch_prefix = true;
        rest = &rest[1..];
    }
    let is_ns_sub = |s: &str| matches!(s, "status" | "finalize");
    match rest {
        ["namespaces", ns, res, tail @ ..]
            if !(group.is_empty() && tail.is_empty() && is_ns_sub(res)) =>
        {
            t.namespace = Some(ns.to_string());
            t.resource = res.to_string();
            match tail {
                [] => {}
                [name] => t.name = Some(name.to_string()),
                [name, sub] => {
                    t.name = Some(name.to_string());
                    t.subresource = sub.to_string();
                }
                _ => return None,
            }
        }
        [res] => t.resource = res.to_string(),
        [res, name] => {
            t.resource = res.to_string();
            t.name = Some(name.to_string());
        }
        [res, name, sub] => {
            t.resource = res.to_string();
            t.name = Some(name.to_string());
            t.subresource = sub.to_string();
        }
        _ => return None,
    }
    Some(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        let t = target("", "v1", &["namespaces", "default", "pods", "p", "status"]).unwrap();
        assert_eq!(
            (
                t.namespace.as_deref(),
                t.resource.as_str(),
                t.name.as_deref(),
                t.subresource.as_str()
            ),
            (Some("default"), "pods", Some("p"), "status")
        );
        let t = target("", "v1", &["namespaces", "default", "status"]).unwrap();
        assert_eq!(
            (t.namespace, t.resource.as_str(), t.name.as_deref()),
            (None, "namespaces", Some("default"))
        );
        let t = target("apps", "v1", &["deployments"]).unwrap();
        assert_eq!(t.resource, "deployments");
        assert_eq!(decode("a%3Db+c"), "a=b c");
    }
}
