//! OpenAPI v3 documents, enough for kubectl's field validation check and `kubectl explain`.

use crate::resources::{Registry, ResourceDef};
use serde_json::{Map, Value, json};

fn gv_key(d: &ResourceDef) -> String {
    if d.group.is_empty() {
        format!("api/{}", d.version)
    } else {
        format!("apis/{}/{}", d.group, d.version)
    }
}

/// `/openapi/v3`: one entry per group version.
pub fn root(reg: &Registry) -> Value {
    let mut paths = Map::new();
    for d in reg.all() {
        let key = gv_key(&d);
        let hash = format!("{:016X}", fxhash(&format!("{key}{}", reg.all().len())));
        paths.insert(
            key.clone(),
            json!({"serverRelativeURL": format!("/openapi/v3/{key}?hash={hash}")}),
        );
    }
    json!({"paths": paths})
}

fn fxhash(s: &str) -> u64 {
    s.bytes().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x100000001b3)
    })
}

fn schema_id(d: &ResourceDef) -> String {
    let mut g: Vec<&str> = d.group.split('.').collect();
    g.reverse();
    if d.group.is_empty() {
        format!("io.k8s.api.core.{}.{}", d.version, d.kind)
    } else {
        format!("{}.{}.{}", g.join("."), d.version, d.kind)
    }
}

fn object_schema(d: &ResourceDef) -> Value {
    let gvk = json!([{"group": d.group, "version": d.version, "kind": d.kind}]);
    let mut s = d.schema.clone().unwrap_or_else(|| {
        json!({"type": "object", "description": format!("{} is a {} resource served by the simulator.", d.kind, d.plural), "properties": {
            "apiVersion": {"type": "string", "description": "APIVersion defines the versioned schema of this representation of an object."},
            "kind": {"type": "string", "description": "Kind is a string value representing the REST resource this object represents."},
            "metadata": {"type": "object", "description": "Standard object's metadata.", "x-kubernetes-preserve-unknown-fields": true},
            "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
            "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}
        }})
    });
    s["x-kubernetes-group-version-kind"] = gvk;
    s
}

fn op(d: &ResourceDef, action: &str, id: &str, params: &[&str]) -> Value {
    let params: Vec<Value> = params
        .iter()
        .map(|p| json!({"name": p, "in": "query", "description": p, "schema": {"type": "string", "uniqueItems": true}}))
        .collect();
    json!({
        "description": format!("{action} {}", d.kind),
        "operationId": format!("{action}{}", d.kind),
        "parameters": params,
        "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{id}")}}}}},
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": {"group": d.group, "version": d.version, "kind": d.kind},
    })
}

/// `/openapi/v3/<api|apis/group>/<version>`.
pub fn group_version(reg: &Registry, key: &str) -> Option<Value> {
    let defs: Vec<ResourceDef> = reg.all().into_iter().filter(|d| gv_key(d) == key).collect();
    if defs.is_empty() {
        return None;
    }
    let mut paths = Map::new();
    let mut schemas = Map::new();
    let write = ["dryRun", "fieldManager", "fieldValidation"];
    for d in &defs {
        let id = schema_id(d);
        schemas.insert(id.clone(), object_schema(d));
        let base = d.gv_path();
        let coll = if d.namespaced {
            format!("{base}/namespaces/{{namespace}}/{}", d.plural)
        } else {
            format!("{base}/{}", d.plural)
        };
        paths.insert(coll.clone(), json!({"get": op(d, "list", &id, &["labelSelector", "fieldSelector"]), "post": op(d, "post", &id, &write)}));
        let mut patch_params = write.to_vec();
        patch_params.push("force");
        paths.insert(
            format!("{coll}/{{name}}"),
            json!({"get": op(d, "get", &id, &[]), "put": op(d, "put", &id, &write), "patch": op(d, "patch", &id, &patch_params), "delete": op(d, "delete", &id, &["dryRun"])}),
        );
        if d.status_subresource {
            paths.insert(
                format!("{coll}/{{name}}/status"),
                json!({"get": op(d, "get", &id, &[]), "put": op(d, "put", &id, &write), "patch": op(d, "patch", &id, &patch_params)}),
            );
        }
    }
    Some(
        json!({"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "v1.33.0"}, "paths": paths, "components": {"schemas": schemas}}),
    )
}
