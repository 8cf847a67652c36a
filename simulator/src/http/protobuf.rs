//! The Kubernetes protobuf wire format (fields, the `k8s\0` envelope), and the TokenRequest that
//! `kubectl create token` sends. The objects of the few kinds kubesim decodes from protobuf are in
//! `protobuf_objects`; everything else it speaks is JSON.

use serde_json::{Value, json};

/// The prefix of every Kubernetes protobuf body.
pub(super) const MAGIC: &[u8] = b"k8s\0";

/// One protobuf field: a varint or a length-delimited payload.
pub(super) enum Field<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
}

fn varint(buf: &[u8], pos: &mut usize) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *buf.get(*pos)?;
        *pos += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

/// The fields of a message, in order; `None` when it is malformed.
pub(super) fn fields(buf: &[u8]) -> Option<Vec<(u64, Field<'_>)>> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < buf.len() {
        let key = varint(buf, &mut pos)?;
        let field = match key & 7 {
            0 => Field::Varint(varint(buf, &mut pos)?),
            1 => {
                pos = pos.checked_add(8)?;
                continue;
            }
            2 => {
                let len = usize::try_from(varint(buf, &mut pos)?).ok()?;
                let end = pos.checked_add(len)?;
                let bytes = buf.get(pos..end)?;
                pos = end;
                Field::Bytes(bytes)
            }
            5 => {
                pos = pos.checked_add(4)?;
                continue;
            }
            _ => return None,
        };
        out.push((key >> 3, field));
    }
    (pos == buf.len()).then_some(out)
}

/// The first length-delimited field `number` of a message.
pub(super) fn message(buf: &[u8], number: u64) -> Option<&[u8]> {
    fields(buf)?.into_iter().find_map(|(n, f)| match f {
        Field::Bytes(b) if n == number => Some(b),
        _ => None,
    })
}

/// The `spec` of a protobuf-encoded TokenRequest (`audiences`, `expirationSeconds`) as JSON, or
/// `None` if the body is not one.
pub fn token_request(body: &[u8]) -> Option<Value> {
    let unknown = body.strip_prefix(MAGIC)?;
    let raw = message(unknown, 2)?;
    let spec = message(raw, 2).unwrap_or_default();
    let mut audiences = Vec::new();
    let mut expiration = None;
    for (number, field) in fields(spec)? {
        match (number, field) {
            (1, Field::Bytes(b)) => audiences.push(json!(String::from_utf8_lossy(b))),
            (4, Field::Varint(v)) => expiration = i64::try_from(v).ok(),
            _ => {}
        }
    }
    let mut out = json!({"spec": {}});
    if !audiences.is_empty() {
        out["spec"]["audiences"] = json!(audiences);
    }
    if let Some(seconds) = expiration {
        out["spec"]["expirationSeconds"] = json!(seconds);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn len_field(number: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![(number << 3) | 2, u8::try_from(payload.len()).unwrap()];
        out.extend_from_slice(payload);
        out
    }

    #[test]
    fn reads_audiences_and_expiration() {
        let mut spec = len_field(1, b"api");
        spec.extend_from_slice(&[4 << 3, 0x90, 0x1c]); // expirationSeconds = 3600
        let raw = len_field(2, &spec);
        let mut body = MAGIC.to_vec();
        body.extend(len_field(1, b""));
        body.extend(len_field(2, &raw));
        assert_eq!(
            token_request(&body),
            Some(json!({"spec": {"audiences": ["api"], "expirationSeconds": 3600}}))
        );
        assert_eq!(token_request(b"{}"), None);
        assert_eq!(token_request(b"k8s\0\x12\x09"), None);
    }
}
