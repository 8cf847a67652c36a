//! Bounds on one admission: how large a pod the operator instruments, and how much text it puts
//! onto a pod or into an answer. A pod beyond a limit is left unchanged with a reason, so the work
//! and the output stay small whatever a pod or a resource holds.

use std::fmt::Write as _;

use serde_json::Value;

use super::pod::PodView;

/// Most containers (init and application together) in a pod the operator instruments.
pub const MAX_CONTAINERS: usize = 100;
/// Most `env` entries in one application container of a pod the operator instruments.
pub const MAX_ENV_PER_CONTAINER: usize = 1000;
/// Longest `OTEL_RESOURCE_ATTRIBUTES` value (bytes) a container may set for its pod to be instrumented.
pub const MAX_RESOURCE_ATTRIBUTES_BYTES: usize = 16 * 1024;
/// Most `key=value` pairs in a container's `OTEL_RESOURCE_ATTRIBUTES` for its pod to be instrumented.
pub const MAX_RESOURCE_ATTRIBUTES_PAIRS: usize = 256;
/// Largest JSONPatch (serialised bytes) the operator returns; a larger one is not applied.
pub const MAX_PATCH_BYTES: usize = 512 * 1024;
/// Longest `openlit.io/instrumentation-skipped` annotation value (bytes).
pub const MAX_SKIP_ANNOTATION_BYTES: usize = 1024;
/// Longest warning (bytes) in an AdmissionResponse, the length the API server keeps.
pub const MAX_WARNING_BYTES: usize = 256;
/// Most warnings in an AdmissionResponse; more are summarised as "... and N more".
pub const MAX_WARNINGS: usize = 8;

const RESOURCE_ATTRIBUTES: &str = "OTEL_RESOURCE_ATTRIBUTES";

/// `Err` with the reason when the pod is beyond a limit. Reads each container's `env` once.
pub fn check_pod(pod: &PodView) -> Result<(), String> {
    let containers = pod.containers().len() + pod.init_containers().len();
    if containers > MAX_CONTAINERS {
        return Err(format!(
            "the pod has {containers} containers (init and application), more than the {MAX_CONTAINERS} the operator instruments"
        ));
    }
    for container in pod.containers() {
        let name = container
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let name = truncate(name, 64);
        let env = container
            .get("env")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        if env.len() > MAX_ENV_PER_CONTAINER {
            return Err(format!(
                "container {name} has {} env entries, more than the {MAX_ENV_PER_CONTAINER} the operator instruments",
                env.len()
            ));
        }
        let attributes = env
            .iter()
            .filter(|e| e.get("name").and_then(Value::as_str) == Some(RESOURCE_ATTRIBUTES))
            .filter_map(|e| e.get("value").and_then(Value::as_str));
        for value in attributes {
            if value.len() > MAX_RESOURCE_ATTRIBUTES_BYTES {
                return Err(format!(
                    "container {name} sets {RESOURCE_ATTRIBUTES} to {} bytes, more than the {MAX_RESOURCE_ATTRIBUTES_BYTES} the operator merges",
                    value.len()
                ));
            }
            let pairs = value.bytes().filter(|b| *b == b',').count() + 1;
            if pairs > MAX_RESOURCE_ATTRIBUTES_PAIRS {
                return Err(format!(
                    "container {name} sets {RESOURCE_ATTRIBUTES} to {pairs} pairs, more than the {MAX_RESOURCE_ATTRIBUTES_PAIRS} the operator merges"
                ));
            }
        }
    }
    Ok(())
}

/// Shortens `text` to at most `max` bytes on a character boundary, marking the cut with `…`.
pub fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let marker = "…";
    let mut end = max.saturating_sub(marker.len());
    while end > 0 && !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{marker}", &text[..end])
}

/// Joins `items` with `"; "` into at most `max` bytes: the items that fit, then
/// `"... and N more"` for the rest (an item alone longer than the room left is shortened).
pub fn join_capped<I>(items: I, max: usize) -> String
where
    I: IntoIterator<Item = String>,
    I::IntoIter: ExactSizeIterator,
{
    let items = items.into_iter();
    let total = items.len();
    let mut out = String::new();
    for (index, item) in items.enumerate() {
        let left = total - index;
        // Room for the summary of the items that may not fit ("; ... and 99999 more").
        let reserve = if left > 1 { 32 } else { 0 };
        let separator = if out.is_empty() { "" } else { "; " };
        let room = max.saturating_sub(out.len() + separator.len() + reserve);
        if item.len() <= room {
            out.push_str(separator);
            out.push_str(&item);
        } else if out.is_empty() && room > 16 {
            out.push_str(&truncate(&item, room));
            if left > 1 {
                let _ = write!(out, "; ... and {} more", left - 1);
            }
            break;
        } else {
            let _ = write!(out, "{separator}... and {left} more");
            break;
        }
    }
    truncate(&out, max)
}

/// The warnings an AdmissionResponse carries: each shortened to [`MAX_WARNING_BYTES`], at most
/// [`MAX_WARNINGS`] of them, the rest counted in a last "... and N more warnings".
pub fn cap_warnings(warnings: Vec<String>) -> Vec<String> {
    let total = warnings.len();
    let mut out: Vec<String> = warnings
        .iter()
        .take(if total > MAX_WARNINGS {
            MAX_WARNINGS - 1
        } else {
            MAX_WARNINGS
        })
        .map(|w| truncate(w, MAX_WARNING_BYTES))
        .collect();
    if total > out.len() {
        out.push(format!("... and {} more warnings", total - out.len()));
    }
    out
}

/// Counts the bytes of a serialisation without keeping them.
#[derive(Default)]
pub struct ByteCount(pub usize);

impl std::io::Write for ByteCount {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncation_keeps_characters_whole_and_marks_the_cut() {
        assert_eq!(truncate("short", 10), "short");
        let cut = truncate(&"é".repeat(100), 11);
        assert!(cut.len() <= 11, "{cut}");
        assert!(cut.ends_with('…'));
    }

    #[test]
    fn joined_lists_fit_and_count_what_was_left_out() {
        let items: Vec<String> = (0..500)
            .map(|i| format!("container-{i}: a reason"))
            .collect();
        let joined = join_capped(items, 1024);
        assert!(joined.len() <= 1024, "{}", joined.len());
        assert!(joined.starts_with("container-0: a reason; container-1"));
        assert!(joined.contains("... and "), "{joined}");
        assert_eq!(join_capped(vec!["a".into(), "b".into()], 1024), "a; b");
        let one_long = join_capped(vec!["x".repeat(5000), "y".into()], 1024);
        assert!(one_long.len() <= 1024);
        assert!(one_long.ends_with("... and 1 more"), "{one_long}");
    }

    #[test]
    fn warnings_are_shortened_and_counted() {
        let many: Vec<String> = (0..20).map(|i| format!("{i}{}", "w".repeat(400))).collect();
        let capped = cap_warnings(many);
        assert_eq!(capped.len(), MAX_WARNINGS);
        assert!(capped.iter().all(|w| w.len() <= MAX_WARNING_BYTES));
        assert_eq!(capped.last().unwrap(), "... and 13 more warnings");
        assert_eq!(cap_warnings(vec!["a".into()]), vec!["a".to_string()]);
    }
}
