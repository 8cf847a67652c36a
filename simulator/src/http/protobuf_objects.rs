//! Protobuf request bodies of the built-in kinds kubectl's imperative commands create
//! (`kubectl create namespace`, `create configmap`, `create secret generic`, `create
//! serviceaccount`, `create deployment`): kubectl 1.32 and later send those as protobuf and do not fall back to JSON.
//! Each kind is decoded by a table of its fields into the JSON the rest of kubesim handles. A field
//! the table does not know makes the body undecodable, so nothing is silently dropped.

use base64::Engine;
use serde_json::{Map, Value, json};

use super::protobuf::{Field, MAGIC, fields, message};

/// How one field's payload becomes JSON.
#[derive(Clone, Copy)]
enum Shape {
    /// A UTF-8 string.
    Text,
    /// A boolean varint.
    Bool,
    /// An integer varint.
    Int,
    /// A nested message, by its table.
    Message(&'static [Spec]),
    /// `map<string, string>`: repeated entries with key 1 and value 2.
    TextMap,
    /// `map<string, bytes>`, rendered base64 as JSON does.
    BytesMap,
}

/// One field of a message: its number, JSON name, shape and whether it repeats.
#[derive(Clone, Copy)]
struct Spec(u64, &'static str, Shape, bool);

const OBJECT_META: &[Spec] = &[
    Spec(1, "name", Shape::Text, false),
    Spec(2, "generateName", Shape::Text, false),
    Spec(3, "namespace", Shape::Text, false),
    Spec(5, "uid", Shape::Text, false),
    Spec(6, "resourceVersion", Shape::Text, false),
    Spec(11, "labels", Shape::TextMap, false),
    Spec(12, "annotations", Shape::TextMap, false),
    Spec(14, "finalizers", Shape::Text, true),
];
const NAMESPACE: &[Spec] = &[
    Spec(1, "metadata", Shape::Message(OBJECT_META), false),
    Spec(
        2,
        "spec",
        Shape::Message(&[Spec(1, "finalizers", Shape::Text, true)]),
        false,
    ),
    Spec(
        3,
        "status",
        Shape::Message(&[Spec(1, "phase", Shape::Text, false)]),
        false,
    ),
];
const CONFIG_MAP: &[Spec] = &[
    Spec(1, "metadata", Shape::Message(OBJECT_META), false),
    Spec(2, "data", Shape::TextMap, false),
    Spec(3, "binaryData", Shape::BytesMap, false),
    Spec(4, "immutable", Shape::Bool, false),
];
const SECRET: &[Spec] = &[
    Spec(1, "metadata", Shape::Message(OBJECT_META), false),
    Spec(2, "data", Shape::BytesMap, false),
    Spec(3, "type", Shape::Text, false),
    Spec(4, "stringData", Shape::TextMap, false),
    Spec(5, "immutable", Shape::Bool, false),
];
const NAME_ONLY: &[Spec] = &[Spec(1, "name", Shape::Text, false)];
const SERVICE_ACCOUNT: &[Spec] = &[
    Spec(1, "metadata", Shape::Message(OBJECT_META), false),
    Spec(2, "secrets", Shape::Message(NAME_ONLY), true),
    Spec(3, "imagePullSecrets", Shape::Message(NAME_ONLY), true),
    Spec(4, "automountServiceAccountToken", Shape::Bool, false),
];

const LABEL_SELECTOR: &[Spec] = &[Spec(1, "matchLabels", Shape::TextMap, false)];
const CONTAINER_PORT: &[Spec] = &[
    Spec(1, "name", Shape::Text, false),
    Spec(2, "hostPort", Shape::Int, false),
    Spec(3, "containerPort", Shape::Int, false),
    Spec(4, "protocol", Shape::Text, false),
];
const CONTAINER: &[Spec] = &[
    Spec(1, "name", Shape::Text, false),
    Spec(2, "image", Shape::Text, false),
    Spec(3, "command", Shape::Text, true),
    Spec(4, "args", Shape::Text, true),
    Spec(6, "ports", Shape::Message(CONTAINER_PORT), true),
    Spec(8, "resources", Shape::Message(&[]), false),
];
const POD_SPEC: &[Spec] = &[Spec(2, "containers", Shape::Message(CONTAINER), true)];
const POD_TEMPLATE: &[Spec] = &[
    Spec(1, "metadata", Shape::Message(OBJECT_META), false),
    Spec(2, "spec", Shape::Message(POD_SPEC), false),
];
const DEPLOYMENT_SPEC: &[Spec] = &[
    Spec(1, "replicas", Shape::Int, false),
    Spec(2, "selector", Shape::Message(LABEL_SELECTOR), false),
    Spec(3, "template", Shape::Message(POD_TEMPLATE), false),
    Spec(
        4,
        "strategy",
        Shape::Message(&[Spec(1, "type", Shape::Text, false)]),
        false,
    ),
];
const DEPLOYMENT: &[Spec] = &[
    Spec(1, "metadata", Shape::Message(OBJECT_META), false),
    Spec(2, "spec", Shape::Message(DEPLOYMENT_SPEC), false),
    Spec(3, "status", Shape::Message(&[]), false),
];

/// The field table of a kind kubesim decodes from protobuf.
fn table(api_version: &str, kind: &str) -> Option<&'static [Spec]> {
    match (api_version, kind) {
        ("v1", "Namespace") => Some(NAMESPACE),
        ("v1", "ConfigMap") => Some(CONFIG_MAP),
        ("v1", "Secret") => Some(SECRET),
        ("v1", "ServiceAccount") => Some(SERVICE_ACCOUNT),
        ("apps/v1", "Deployment") => Some(DEPLOYMENT),
        _ => None,
    }
}

/// Decodes a protobuf-encoded object (the `k8s\0` envelope around a `runtime.Unknown`) into its
/// JSON form, or `None` when the body is malformed or its kind or one of its fields is not one
/// kubesim decodes.
pub fn decode(body: &[u8]) -> Option<Value> {
    let unknown = body.strip_prefix(MAGIC)?;
    let type_meta = message(unknown, 1)?;
    let text = |n: u64| {
        message(type_meta, n).and_then(|b| std::str::from_utf8(b).ok().map(str::to_string))
    };
    let api_version = text(1)?;
    let kind = text(2)?;
    let raw = message(unknown, 2).unwrap_or_default();
    let mut object = decode_message(raw, table(&api_version, &kind)?, 0)?;
    object.insert("apiVersion".into(), json!(api_version));
    object.insert("kind".into(), json!(kind));
    Some(Value::Object(object))
}

/// How deep messages may nest: the tables nest five levels, so anything deeper is malformed.
const MAX_DEPTH: usize = 6;

fn decode_message(buf: &[u8], specs: &[Spec], depth: usize) -> Option<Map<String, Value>> {
    if depth > MAX_DEPTH {
        return None;
    }
    let mut out = Map::new();
    for (number, field) in fields(buf)? {
        let Some(&Spec(_, name, shape, repeated)) = specs.iter().find(|s| s.0 == number) else {
            // Go's encoder writes every non-pointer field, set or not (`creationTimestamp: {}`,
            // `generation: 0`): an unknown field is skipped only when it holds its zero value.
            if is_zero(&field) {
                continue;
            }
            return None;
        };
        if is_zero(&field) && !repeated {
            // JSON leaves zero values out as well (`omitempty`).
            continue;
        }
        let value = match (shape, field) {
            (Shape::Text, Field::Bytes(b)) => json!(std::str::from_utf8(b).ok()?),
            (Shape::Bool, Field::Varint(v)) => json!(v != 0),
            // Kubernetes integers are int32 or int64; a negative one is sign-extended.
            (Shape::Int, Field::Varint(v)) => json!(v.cast_signed()),
            (Shape::Message(inner), Field::Bytes(b)) => {
                Value::Object(decode_message(b, inner, depth + 1)?)
            }
            (Shape::TextMap | Shape::BytesMap, Field::Bytes(b)) => {
                let (key, value) = map_entry(b, matches!(shape, Shape::BytesMap))?;
                let map = out.entry(name).or_insert_with(|| json!({}));
                map.as_object_mut()?.insert(key, value);
                continue;
            }
            _ => return None,
        };
        if repeated {
            out.entry(name)
                .or_insert_with(|| json!([]))
                .as_array_mut()?
                .push(value);
        } else {
            out.insert(name.into(), value);
        }
    }
    Some(out)
}

/// A varint 0 or an empty payload: what Go writes for a field that is not set.
fn is_zero(field: &Field<'_>) -> bool {
    match field {
        Field::Varint(v) => *v == 0,
        Field::Bytes(b) => b.is_empty(),
    }
}

fn map_entry(buf: &[u8], bytes: bool) -> Option<(String, Value)> {
    let mut key = String::new();
    let mut value: &[u8] = &[];
    for (number, field) in fields(buf)? {
        match (number, field) {
            (1, Field::Bytes(b)) => key = std::str::from_utf8(b).ok()?.to_string(),
            (2, Field::Bytes(b)) => value = b,
            _ => return None,
        }
    }
    let value = if bytes {
        json!(base64::engine::general_purpose::STANDARD.encode(value))
    } else {
        json!(std::str::from_utf8(value).ok()?)
    };
    Some((key, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(number: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![(number << 3) | 2, u8::try_from(payload.len()).unwrap()];
        out.extend_from_slice(payload);
        out
    }

    fn envelope(api_version: &str, kind: &str, raw: &[u8]) -> Vec<u8> {
        let mut type_meta = field(1, api_version.as_bytes());
        type_meta.extend(field(2, kind.as_bytes()));
        let mut body = MAGIC.to_vec();
        body.extend(field(1, &type_meta));
        body.extend(field(2, raw));
        body
    }

    #[test]
    fn a_config_map_with_text_and_binary_data() {
        let mut entry = field(1, b"a");
        entry.extend(field(2, b"b"));
        let mut binary = field(1, b"raw");
        binary.extend(field(2, &[0, 1]));
        let mut raw = field(1, &field(1, b"settings"));
        raw.extend(field(2, &entry));
        raw.extend(field(3, &binary));
        raw.extend([4 << 3, 1]);
        assert_eq!(
            decode(&envelope("v1", "ConfigMap", &raw)),
            Some(json!({
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "settings"},
                "data": {"a": "b"}, "binaryData": {"raw": "AAE="}, "immutable": true,
            }))
        );
    }

    #[test]
    fn unknown_kinds_and_fields_are_not_decoded() {
        let raw = field(1, &field(1, b"x"));
        assert!(decode(&envelope("v1", "Namespace", &raw)).is_some());
        assert_eq!(decode(&envelope("v1", "Pod", &raw)), None);
        assert_eq!(decode(&envelope("apps/v1", "Namespace", &raw)), None);
        let mut unknown_field = raw.clone();
        unknown_field.extend(field(9, b"?"));
        assert_eq!(decode(&envelope("v1", "Namespace", &unknown_field)), None);
        // An unset field as Go writes it (an empty message) is skipped.
        let mut unset = raw.clone();
        unset.extend(field(9, b""));
        assert!(decode(&envelope("v1", "Namespace", &unset)).is_some());
        assert_eq!(decode(b"{}"), None);
        assert_eq!(decode(b"k8s\0\xff"), None);
    }
}
