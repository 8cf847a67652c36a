//! Resolving a container's final environment: envFrom, env with the downward API, Secret and
//! ConfigMap references, `$(VAR)` expansion, last definition wins.

use base64::Engine;
use serde_json::Value;
use std::collections::BTreeMap;

/// Reads Secrets and ConfigMaps for the resolver: `(kind, namespace, name)` → object.
pub trait Lookup {
    /// The object, if it exists.
    fn lookup(&self, kind: &str, namespace: &str, name: &str) -> Option<Value>;
}

/// Expand `$(VAR)` references the way Kubernetes does (`$$` escapes, unknown refs stay).
pub fn expand(s: &str, vars: &BTreeMap<String, String>) -> String {
    let b = s.as_bytes();
    let mut out = String::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'$' && i + 1 < b.len() {
            if b[i + 1] == b'$' {
                out.push('$');
                i += 2;
                continue;
            }
            if b[i + 1] == b'('
                && let Some(end) = s[i + 2..].find(')')
            {
                let name = &s[i + 2..i + 2 + end];
                match vars.get(name) {
                    Some(v) => out.push_str(v),
                    None => out.push_str(&s[i..i + 3 + end]),
                }
                i += 3 + end;
                continue;
            }
        }
        let ch = s[i..].chars().next().unwrap_or(' ');
        out.push(ch);
        i += ch.len_utf8();
    }
    out
}

fn field_ref(pod: &Value, path: &str) -> Result<String, String> {
    let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
    let bracket = |prefix: &str| -> Option<String> {
        let inner = path
            .strip_prefix(prefix)?
            .strip_prefix("['")?
            .strip_suffix("']")?;
        Some(inner.to_string())
    };
    if let Some(k) = bracket("metadata.labels") {
        return Ok(s(&pod["metadata"]["labels"][k.as_str()]));
    }
    if let Some(k) = bracket("metadata.annotations") {
        return Ok(s(&pod["metadata"]["annotations"][k.as_str()]));
    }
    Ok(match path {
        "metadata.name" => s(&pod["metadata"]["name"]),
        "metadata.namespace" => s(&pod["metadata"]["namespace"]),
        "metadata.uid" => s(&pod["metadata"]["uid"]),
        "spec.nodeName" => s(&pod["spec"]["nodeName"]),
        "spec.serviceAccountName" => s(&pod["spec"]["serviceAccountName"]),
        "status.podIP" => s(&pod["status"]["podIP"]),
        "status.hostIP" => s(&pod["status"]["hostIP"]),
        "status.podIPs" => s(&pod["status"]["podIP"]),
        "status.hostIPs" => s(&pod["status"]["hostIP"]),
        "metadata.labels" | "metadata.annotations" => {
            let m = pod["metadata"][path.trim_start_matches("metadata.")]
                .as_object()
                .cloned()
                .unwrap_or_default();
            m.iter()
                .map(|(k, v)| format!("{k}=\"{}\"", v.as_str().unwrap_or_default()))
                .collect::<Vec<_>>()
                .join("\n")
        }
        other => return Err(format!("unsupported fieldPath: {other}")),
    })
}

fn data_value(obj: &Value, key: &str, secret: bool) -> Option<String> {
    if secret {
        if let Some(s) = obj["stringData"][key].as_str() {
            return Some(s.to_string());
        }
        let raw = obj["data"][key].as_str()?;
        let bytes = base64::engine::general_purpose::STANDARD.decode(raw).ok()?;
        Some(String::from_utf8_lossy(&bytes).into_owned())
    } else {
        obj["data"][key].as_str().map(str::to_string)
    }
}

/// The variables every container gets from the `kubernetes` service.
pub fn service_env() -> Vec<(String, String)> {
    [
        ("KUBERNETES_SERVICE_HOST", "10.96.0.1"),
        ("KUBERNETES_SERVICE_PORT", "443"),
        ("KUBERNETES_SERVICE_PORT_HTTPS", "443"),
        ("KUBERNETES_PORT", "tcp://10.96.0.1:443"),
        ("KUBERNETES_PORT_443_TCP", "tcp://10.96.0.1:443"),
        ("KUBERNETES_PORT_443_TCP_PROTO", "tcp"),
        ("KUBERNETES_PORT_443_TCP_PORT", "443"),
        ("KUBERNETES_PORT_443_TCP_ADDR", "10.96.0.1"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// Resolve the environment of `container` in `pod`. `Err` is a CreateContainerConfigError message.
pub fn resolve(
    pod: &Value,
    container: &Value,
    image_env: &[(String, String)],
    lookup: &dyn Lookup,
) -> Result<BTreeMap<String, String>, String> {
    let ns = pod["metadata"]["namespace"].as_str().unwrap_or_default();
    let mut vars: BTreeMap<String, String> = service_env().into_iter().collect();
    for from in container["envFrom"].as_array().into_iter().flatten() {
        let prefix = from["prefix"].as_str().unwrap_or_default();
        for (field, kind, secret) in [
            ("configMapRef", "ConfigMap", false),
            ("secretRef", "Secret", true),
        ] {
            let r = &from[field];
            if !r.is_object() {
                continue;
            }
            let name = r["name"].as_str().unwrap_or_default();
            match lookup.lookup(kind, ns, name) {
                Some(obj) => {
                    let mut keys: Vec<String> = obj["data"]
                        .as_object()
                        .map(|m| m.keys().cloned().collect())
                        .unwrap_or_default();
                    keys.extend(
                        obj["stringData"]
                            .as_object()
                            .map(|m| m.keys().cloned().collect::<Vec<_>>())
                            .unwrap_or_default(),
                    );
                    for k in keys {
                        if let Some(v) = data_value(&obj, &k, secret) {
                            vars.insert(format!("{prefix}{k}"), v);
                        }
                    }
                }
                None if r["optional"].as_bool() == Some(true) => {}
                None => return Err(format!("{} \"{name}\" not found", kind.to_lowercase())),
            }
        }
    }
    for e in container["env"].as_array().into_iter().flatten() {
        let name = e["name"].as_str().unwrap_or_default().to_string();
        let vf = &e["valueFrom"];
        let value = if let Some(v) = e["value"].as_str() {
            expand(v, &vars)
        } else if vf["fieldRef"].is_object() {
            field_ref(
                pod,
                vf["fieldRef"]["fieldPath"].as_str().unwrap_or_default(),
            )?
        } else if vf["resourceFieldRef"].is_object() {
            let res = vf["resourceFieldRef"]["resource"]
                .as_str()
                .unwrap_or_default();
            let (kind, key) = res.split_once('.').unwrap_or(("limits", res));
            container["resources"][kind][key]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| "0".into())
        } else if vf["secretKeyRef"].is_object() || vf["configMapKeyRef"].is_object() {
            let secret = vf["secretKeyRef"].is_object();
            let r = if secret {
                &vf["secretKeyRef"]
            } else {
                &vf["configMapKeyRef"]
            };
            let kind = if secret { "Secret" } else { "ConfigMap" };
            let obj_name = r["name"].as_str().unwrap_or_default();
            let key = r["key"].as_str().unwrap_or_default();
            let optional = r["optional"].as_bool() == Some(true);
            match lookup.lookup(kind, ns, obj_name) {
                Some(obj) => match data_value(&obj, key, secret) {
                    Some(v) => v,
                    None if optional => continue,
                    None => {
                        return Err(format!("couldn't find key {key} in {kind} {ns}/{obj_name}"));
                    }
                },
                None if optional => continue,
                None => return Err(format!("{} \"{obj_name}\" not found", kind.to_lowercase())),
            }
        } else {
            String::new()
        };
        vars.insert(name, value);
    }
    let mut out: BTreeMap<String, String> = image_env.iter().cloned().collect();
    out.insert(
        "HOSTNAME".into(),
        pod["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    );
    out.extend(vars);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expansion_rules() {
        let mut vars = BTreeMap::new();
        vars.insert("A".to_string(), "x".to_string());
        assert_eq!(expand("$(A)-$(B)-$$(A)", &vars), "x-$(B)-$(A)");
    }
}
