//! What a resource request asks for, in the terms RBAC rules are written in.

/// The attributes of a resource request, as the real API server's authorizers see them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Attributes {
    /// `get`, `list`, `watch`, `create`, `update`, `patch`, `delete` or `deletecollection`.
    pub verb: String,
    /// API group (`""` for core).
    pub group: String,
    /// Plural resource, e.g. `pods`.
    pub resource: String,
    /// Subresource, e.g. `status` (`""` for none).
    pub subresource: String,
    /// Namespace (`""` for cluster-scoped requests and requests across all namespaces).
    pub namespace: String,
    /// Object name (`""` when the request names none, e.g. create or an unfiltered list).
    pub name: String,
}

impl Attributes {
    /// `resource/subresource`, or `resource` when there is no subresource.
    pub fn combined_resource(&self) -> String {
        if self.subresource.is_empty() {
            self.resource.clone()
        } else {
            format!("{}/{}", self.resource, self.subresource)
        }
    }
}

/// Split at unescaped `sep`, keeping escapes.
fn split_unescaped(s: &str, sep: char) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut escaped = false;
    for ch in s.chars() {
        if escaped {
            current.push(ch);
            escaped = false;
        } else if ch == '\\' {
            current.push(ch);
            escaped = true;
        } else if ch == sep {
            parts.push(std::mem::take(&mut current));
        } else {
            current.push(ch);
        }
    }
    parts.push(current);
    parts
}

fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut escaped = false;
    for ch in s.chars() {
        if escaped || ch != '\\' {
            out.push(ch);
            escaped = false;
        } else {
            escaped = true;
        }
    }
    out
}

/// The name a list or watch is limited to by a `metadata.name=<x>` (or `==`) field selector, as
/// the real server sets the request's name from it; `None` when the selector does not require
/// one name or the name cannot be a path segment.
pub fn name_from_field_selector(selector: &str) -> Option<String> {
    for term in split_unescaped(selector, ',') {
        let Some((key, value)) = exact_term(&term) else {
            continue;
        };
        if key.trim() == "metadata.name" {
            let name = unescape(&value);
            let valid = !name.is_empty()
                && name != "."
                && name != ".."
                && !name.contains('/')
                && !name.contains('%');
            return valid.then_some(name);
        }
    }
    None
}

/// `key=value` or `key==value` (not `!=`), split at the first unescaped operator.
fn exact_term(term: &str) -> Option<(String, String)> {
    let chars: Vec<char> = term.chars().collect();
    let mut escaped = false;
    for (i, &ch) in chars.iter().enumerate() {
        if escaped {
            escaped = false;
            continue;
        }
        match ch {
            '\\' => escaped = true,
            '!' if chars.get(i + 1) == Some(&'=') => return None,
            '=' => {
                let key: String = chars[..i].iter().collect();
                let skip = if chars.get(i + 1) == Some(&'=') { 2 } else { 1 };
                let value: String = chars[i + skip..].iter().collect();
                return Some((key, value));
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_field_selector_names_the_request() {
        assert_eq!(
            name_from_field_selector("metadata.name=certs").as_deref(),
            Some("certs")
        );
        assert_eq!(
            name_from_field_selector("metadata.namespace=a,metadata.name==b").as_deref(),
            Some("b")
        );
        assert_eq!(name_from_field_selector("metadata.name!=b"), None);
        assert_eq!(name_from_field_selector("spec.nodeName=n"), None);
        assert_eq!(name_from_field_selector(""), None);
        assert_eq!(name_from_field_selector("metadata.name=a/b"), None);
        assert_eq!(
            name_from_field_selector(r"metadata.name=a\,b").as_deref(),
            Some("a,b")
        );
    }

    #[test]
    fn combined_resource_joins_the_subresource() {
        let a = Attributes {
            resource: "pods".into(),
            subresource: "status".into(),
            ..Default::default()
        };
        assert_eq!(a.combined_resource(), "pods/status");
    }
}
