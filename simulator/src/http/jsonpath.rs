//! The part of Kubernetes JSONPath that CRD printer columns use: fields, indexes (negative
//! too), slices, `[*]` and equality filters such as `[?(@.type=="Ready")]`. Like the API server's
//! table convertor, a column shows the first value the path selects.

use serde_json::Value;

/// One step of a path.
#[derive(Debug, PartialEq)]
enum Step {
    /// `.name`
    Field(String),
    /// `[n]`, counted from the end when negative.
    Index(i64),
    /// `[start:end]` with either end open; negative bounds count from the end.
    Slice(Option<i64>, Option<i64>),
    /// `[*]` or `.*`
    All,
    /// `[?(@.path==literal)]` or `!=`.
    Filter {
        path: Vec<Step>,
        equal: bool,
        literal: Value,
    },
}

/// The first value `path` selects in `obj`, or `None` when it selects nothing or does not parse.
pub fn first<'a>(obj: &'a Value, path: &str) -> Option<&'a Value> {
    let steps = parse(path)?;
    select(obj, &steps).into_iter().next()
}

fn select<'a>(obj: &'a Value, steps: &[Step]) -> Vec<&'a Value> {
    let mut current = vec![obj];
    for step in steps {
        let mut next = Vec::new();
        for value in current {
            apply(value, step, &mut next);
        }
        current = next;
    }
    current
}

fn apply<'a>(value: &'a Value, step: &Step, out: &mut Vec<&'a Value>) {
    match step {
        Step::Field(name) => out.extend(value.get(name.as_str())),
        Step::All => match value {
            Value::Array(items) => out.extend(items.iter()),
            Value::Object(map) => out.extend(map.values()),
            _ => {}
        },
        Step::Index(i) => {
            if let Value::Array(items) = value {
                out.extend(resolve(*i, items.len()).and_then(|i| items.get(i)));
            }
        }
        Step::Slice(start, end) => {
            if let Value::Array(items) = value {
                let len = items.len();
                let from = start.map_or(0, |s| clamp(s, len));
                let to = end.map_or(len, |e| clamp(e, len));
                if from < to {
                    out.extend(items[from..to].iter());
                }
            }
        }
        Step::Filter {
            path,
            equal,
            literal,
        } => {
            if let Value::Array(items) = value {
                out.extend(items.iter().filter(|item| {
                    let found = select(item, path).into_iter().next();
                    found.is_some_and(|f| (f == literal) == *equal)
                }));
            }
        }
    }
}

fn resolve(i: i64, len: usize) -> Option<usize> {
    let len = i64::try_from(len).ok()?;
    let i = if i < 0 { len + i } else { i };
    usize::try_from(i)
        .ok()
        .filter(|&i| i64::try_from(i).is_ok_and(|i| i < len))
}

fn clamp(i: i64, len: usize) -> usize {
    let signed = i64::try_from(len).unwrap_or(i64::MAX);
    let i = if i < 0 { signed + i } else { i };
    usize::try_from(i.clamp(0, signed)).unwrap_or(len)
}

/// Parses a path such as `.status.conditions[?(@.type=="Ready")].status` (braces allowed).
fn parse(path: &str) -> Option<Vec<Step>> {
    let path = path.trim();
    let path = path
        .strip_prefix('{')
        .and_then(|p| p.strip_suffix('}'))
        .unwrap_or(path);
    let path = path.strip_prefix('$').unwrap_or(path);
    let mut steps = Vec::new();
    let mut rest = path;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('.') {
            let end = after.find(['.', '[']).unwrap_or(after.len());
            let name = &after[..end];
            match name {
                "" => return None,
                "*" => steps.push(Step::All),
                _ => steps.push(Step::Field(name.to_string())),
            }
            rest = &after[end..];
        } else if let Some(after) = rest.strip_prefix('[') {
            let end = closing_bracket(after)?;
            steps.push(bracket(&after[..end])?);
            rest = &after[end + 1..];
        } else {
            return None;
        }
    }
    Some(steps)
}

/// The index of the `]` closing a bracket, skipping brackets and quotes inside a filter.
fn closing_bracket(text: &str) -> Option<usize> {
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    for (i, c) in text.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '"' | '\'') => quote = Some(c),
            (None, '[') => depth += 1,
            (None, ']') if depth == 0 => return Some(i),
            (None, ']') => depth -= 1,
            _ => {}
        }
    }
    None
}

fn bracket(inner: &str) -> Option<Step> {
    let inner = inner.trim();
    if inner == "*" {
        return Some(Step::All);
    }
    if let Some(filter) = inner.strip_prefix("?(").and_then(|f| f.strip_suffix(')')) {
        return parse_filter(filter);
    }
    if let Some((start, end)) = inner.split_once(':') {
        let bound = |s: &str| -> Option<Option<i64>> {
            let s = s.trim();
            if s.is_empty() {
                Some(None)
            } else {
                s.parse().ok().map(Some)
            }
        };
        let end = end.split(':').next().unwrap_or_default();
        return Some(Step::Slice(bound(start)?, bound(end)?));
    }
    inner.parse().ok().map(Step::Index)
}

fn parse_filter(filter: &str) -> Option<Step> {
    let (left, right, equal) = if let Some((l, r)) = filter.split_once("!=") {
        (l, r, false)
    } else {
        let (l, r) = filter.split_once("==")?;
        (l, r, true)
    };
    let path = parse(left.trim().strip_prefix('@')?)?;
    let right = right.trim();
    let literal = if let Some(s) = right
        .strip_prefix('"')
        .and_then(|r| r.strip_suffix('"'))
        .or_else(|| right.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')))
    {
        Value::String(s.to_string())
    } else {
        serde_json::from_str(right).ok()?
    };
    Some(Step::Filter {
        path,
        equal,
        literal,
    })
}

#[cfg(test)]
mod tests {
    use super::first;
    use serde_json::json;

    fn object() -> serde_json::Value {
        json!({"status": {"n": 3, "conditions": [
            {"type": "Ready", "status": "True", "reason": "Ok"},
            {"type": "Synced", "status": "False", "reason": "Bad"},
            {"type": "Other", "status": "False", "reason": "Meh"},
        ]}})
    }

    // The expected cells are what kube-apiserver v1.36 printed for the same object and columns.
    #[test]
    fn printer_column_paths_select_what_the_api_server_prints() {
        let o = object();
        let cell = |p: &str| first(&o, p).cloned();
        assert_eq!(
            cell(r#".status.conditions[?(@.type=="Ready")].status"#),
            Some(json!("True"))
        );
        assert_eq!(cell(".status.conditions[*].type"), Some(json!("Ready")));
        assert_eq!(
            cell(r#".status.conditions[?(@.type=="Nope")].status"#),
            None
        );
        assert_eq!(
            cell(r#".status.conditions[?(@.type!="Ready")].reason"#),
            Some(json!("Bad"))
        );
        assert_eq!(cell(".status.conditions[-1:].type"), Some(json!("Other")));
        assert_eq!(cell(".status.conditions[1].reason"), Some(json!("Bad")));
        assert_eq!(cell(".status.conditions[-1].reason"), Some(json!("Meh")));
        assert_eq!(cell(".status.n"), Some(json!(3)));
        assert_eq!(cell("{.status.n}"), Some(json!(3)));
    }

    #[test]
    fn malformed_paths_select_nothing() {
        let o = object();
        for p in [
            ".status.conditions[?(@.type==",
            ".status..n",
            "status",
            ".status.conditions[x]",
        ] {
            assert_eq!(first(&o, p), None, "{p}");
        }
    }
}
