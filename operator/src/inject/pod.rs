//! Read-only accessors over a pod's raw JSON; nothing here builds typed structs, so fields the
//! operator does not know survive untouched.

use std::collections::BTreeMap;

use serde_json::Value;

/// A borrowed view of a pod object, with its labels and annotations read once.
#[derive(Clone, Debug)]
pub struct PodView<'a> {
    raw: &'a Value,
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
}

/// One `metadata.ownerReferences` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Owner {
    /// The owner's kind, e.g. `ReplicaSet`.
    pub kind: String,
    /// The owner's name.
    pub name: String,
    /// Whether this owner is the managing controller.
    pub controller: bool,
}

impl<'a> PodView<'a> {
    /// Wraps a pod object.
    pub fn new(raw: &'a Value) -> Self {
        PodView {
            raw,
            labels: string_map(raw, "labels"),
            annotations: string_map(raw, "annotations"),
        }
    }

    /// The raw pod.
    pub fn raw(&self) -> &'a Value {
        self.raw
    }

    /// `metadata.labels` as a map (non-string values ignored).
    pub fn labels(&self) -> &BTreeMap<String, String> {
        &self.labels
    }

    /// `metadata.annotations` as a map (non-string values ignored).
    pub fn annotations(&self) -> &BTreeMap<String, String> {
        &self.annotations
    }

    /// Whether `metadata.annotations` exists as an object.
    pub fn has_annotations(&self) -> bool {
        self.raw
            .pointer("/metadata/annotations")
            .is_some_and(Value::is_object)
    }

    /// `metadata.name`, when already set (pods created with `generateName` have none at admission).
    pub fn name(&self) -> Option<&'a str> {
        self.raw
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
    }

    /// `metadata.generateName`, when set.
    pub fn generate_name(&self) -> Option<&'a str> {
        self.raw
            .pointer("/metadata/generateName")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
    }

    /// `metadata.ownerReferences`.
    pub fn owners(&self) -> Vec<Owner> {
        self.array("/metadata/ownerReferences")
            .iter()
            .filter_map(|o| {
                Some(Owner {
                    kind: o.get("kind")?.as_str()?.to_string(),
                    name: o.get("name")?.as_str()?.to_string(),
                    controller: o
                        .get("controller")
                        .and_then(Value::as_bool)
                        .unwrap_or(false),
                })
            })
            .collect()
    }

    /// `spec.containers`.
    pub fn containers(&self) -> &'a [Value] {
        self.array("/spec/containers")
    }

    /// `spec.initContainers`.
    pub fn init_containers(&self) -> &'a [Value] {
        self.array("/spec/initContainers")
    }

    /// `spec.volumes`.
    pub fn volumes(&self) -> &'a [Value] {
        self.array("/spec/volumes")
    }

    /// Whether `spec.<field>` exists as an array.
    pub fn has_spec_array(&self, field: &str) -> bool {
        self.raw
            .get("spec")
            .and_then(|s| s.get(field))
            .is_some_and(Value::is_array)
    }

    fn array(&self, pointer: &str) -> &'a [Value] {
        self.raw
            .pointer(pointer)
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }
}

/// `metadata.<field>` as a map of its string values.
fn string_map(raw: &Value, field: &str) -> BTreeMap<String, String> {
    raw.get("metadata")
        .and_then(|m| m.get(field))
        .and_then(Value::as_object)
        .map(|o| {
            o.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default()
}
