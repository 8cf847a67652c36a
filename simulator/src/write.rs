//! Create, update and patch: decoding checks, system fields, defaults, admission, validation,
//! status isolation, generation, managedFields, optimistic concurrency.

use crate::admission::{self, Attributes, Operation};
use crate::cluster::{self, Cluster, FieldValidation, WriteOptions, gr};
use crate::defaults;
use crate::error::{ApiError, Cause};
use crate::managed;
use crate::patch;
use crate::resources::ResourceDef;
use crate::schema;
use crate::store::EventType;
use serde_json::{Value, json};

/// A successful write: the object and any warnings for the client.
#[derive(Debug, Clone)]
pub struct Written {
    /// The stored object.
    pub object: Value,
    /// `Warning` header texts.
    pub warnings: Vec<String>,
    /// Whether the object was created (HTTP 201).
    pub created: bool,
}

/// The patch formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    /// `application/json-patch+json`.
    Json,
    /// `application/merge-patch+json`.
    Merge,
    /// `application/strategic-merge-patch+json`.
    Strategic,
    /// `application/apply-patch+yaml`.
    Apply,
}

fn check_type(def: &ResourceDef, body: &mut Value) -> Result<(), ApiError> {
    if !body.is_object() {
        return Err(ApiError::bad_request(format!(
            "the object provided is unrecognized (must be of type {}): couldn't get version/kind; json parse error: expected an object",
            def.kind
        )));
    }
    let api_version = body["apiVersion"].as_str().unwrap_or_default().to_string();
    let kind = body["kind"].as_str().unwrap_or_default().to_string();
    if !kind.is_empty() && kind != def.kind {
        let version = api_version.rsplit('/').next().unwrap_or_default();
        return Err(ApiError::bad_request(format!(
            "{kind} in version \"{version}\" cannot be handled as a {}: no kind \"{kind}\" is registered for version \"{api_version}\"",
            def.kind
        )));
    }
    if !api_version.is_empty() && api_version != def.api_version() {
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({api_version}) does not match the expected API version ({})",
            def.api_version()
        )));
    }
    body["apiVersion"] = json!(def.api_version());
    body["kind"] = json!(def.kind);
    if !body["metadata"].is_object() {
        body["metadata"] = json!({});
    }
    Ok(())
}

/// Prune and default a custom resource; strict validation rejects unknown fields.
fn decode_custom(
    def: &ResourceDef,
    obj: &mut Value,
    fv: FieldValidation,
    warnings: &mut Vec<String>,
) -> Result<(), ApiError> {
    let Some(schema) = &def.schema else {
        return Ok(());
    };
    let unknown = schema::prune(schema, obj);
    if !unknown.is_empty() {
        let list: Vec<String> = unknown
            .iter()
            .map(|u| format!("unknown field \"{u}\""))
            .collect();
        match fv {
            FieldValidation::Strict => {
                return Err(ApiError::bad_request(format!(
                    "{kind} in version \"{v}\" cannot be handled as a {kind}: strict decoding error: {}",
                    list.join(", "),
                    kind = def.kind,
                    v = def.version
                )));
            }
            FieldValidation::Warn => warnings.extend(list),
            FieldValidation::Ignore => {}
        }
    }
    schema::apply_defaults(schema, obj);
    Ok(())
}

fn validate(def: &ResourceDef, obj: &Value) -> Result<(), ApiError> {
    let name = obj["metadata"]["name"].as_str().unwrap_or_default();
    let mut causes: Vec<Cause> = vec![];
    if let Some(prefix) = obj["metadata"]["generateName"]
        .as_str()
        .filter(|g| !g.is_empty())
    {
        causes.extend(cluster::validate_generate_name(prefix));
    }
    if def.kind != "CustomResourceDefinition" || !name.is_empty() {
        causes.extend(cluster::validate_name(name));
    }
    causes.extend(defaults::validate_builtin(&def.kind, obj));
    if let Some(s) = &def.schema {
        causes.extend(schema::validate(s, obj));
    }
    if causes.is_empty() {
        Ok(())
    } else {
        // events.k8s.io Events are stored by the core Event registry, whose errors name the
        // kind without a group.
        let group = if def.group == "events.k8s.io" {
            ""
        } else {
            def.group.as_str()
        };
        Err(ApiError::invalid(group, &def.kind, name, causes))
    }
}

fn check_namespace(c: &Cluster, def: &ResourceDef, ns: &str) -> Result<(), ApiError> {
    if !def.namespaced {
        return Ok(());
    }
    let t = c.store.txn();
    match t.get_ref(&("".into(), "namespaces".into()), "", ns) {
        None => Err(ApiError::not_found("", "namespaces", ns)),
        Some(n) if n["metadata"]["deletionTimestamp"].is_string() && def.plural != "events" => {
            Err(ApiError::new(
                403,
                "Forbidden",
                format!(
                    "{} is forbidden: unable to create new content in namespace {ns} because it is being terminated",
                    def.plural
                ),
            ))
        }
        _ => Ok(()),
    }
}

/// Create an object.
pub async fn create(
    c: &Cluster,
    def: &ResourceDef,
    ns: &str,
    body: Value,
    opts: &WriteOptions,
) -> Result<Written, ApiError> {
    create_inner(c, def, ns, body, opts, None).await
}

async fn create_inner(
    c: &Cluster,
    def: &ResourceDef,
    ns: &str,
    mut body: Value,
    opts: &WriteOptions,
    apply_entries: Option<Vec<managed::Entry>>,
) -> Result<Written, ApiError> {
    check_type(def, &mut body)?;
    let mut warnings = vec![];
    match body["metadata"]["namespace"].as_str() {
        Some(n) if def.namespaced && !n.is_empty() && n != ns => {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
        _ => {}
    }
    let meta = body["metadata"]
        .as_object_mut()
        .ok_or_else(|| ApiError::bad_request("metadata must be an object"))?;
    if def.namespaced {
        meta.insert("namespace".into(), json!(ns));
    } else {
        meta.remove("namespace");
    }
    let has_name = meta
        .get("name")
        .and_then(Value::as_str)
        .is_some_and(|s| !s.is_empty());
    let generate = meta
        .get("generateName")
        .and_then(Value::as_str)
        .filter(|g| !g.is_empty())
        .map(str::to_string);
    if !has_name && generate.is_none() {
        return Err(ApiError::invalid(
            &def.group,
            &def.kind,
            "",
            vec![Cause {
                reason: "FieldValueRequired".into(),
                message: "Required value: name or generateName is required".into(),
                field: "metadata.name".into(),
            }],
        ));
    }
    for k in [
        "resourceVersion",
        "uid",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "selfLink",
        "managedFields",
        "generation",
        "creationTimestamp",
    ] {
        meta.remove(k);
    }
    let name = body["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    check_namespace(c, def, ns)?;
    if def.custom {
        decode_custom(def, &mut body, opts.field_validation, &mut warnings)?;
    } else {
        defaults::builtin_defaults(&def.kind, &mut body);
    }
    if def.status_subresource {
        match defaults::initial_status(&def.kind) {
            Some(s) if !def.custom => body["status"] = s,
            _ => {
                if let Some(m) = body.as_object_mut() {
                    m.remove("status");
                }
            }
        }
    }
    if def.kind == "Pod" {
        defaults::pod_admission(&mut body, &cluster::random_suffix(5));
    }
    let attrs = Attributes {
        def: def.clone(),
        namespace: ns.to_string(),
        name: name.clone(),
        operation: Operation::Create,
        subresource: String::new(),
        old: None,
        opts: opts.clone(),
    };
    let (mut body, hook_warnings) = admission::mutate(c, &attrs, body).await?;
    warnings.extend(hook_warnings);
    if def.custom {
        decode_custom(def, &mut body, FieldValidation::Ignore, &mut vec![])?;
    }
    let name = match generate {
        Some(g) if !has_name => format!("{g}{}", cluster::random_suffix(5)),
        _ => name,
    };
    body["metadata"]["name"] = json!(name);
    body["metadata"]["uid"] = json!(cluster::new_uid());
    body["metadata"]["creationTimestamp"] = json!(c.clock.timestamp());
    if def.generation {
        body["metadata"]["generation"] = json!(1);
    }
    if def.kind == "CustomResourceDefinition" {
        body["status"] = defaults::crd_status(&body, &c.clock.timestamp());
    }
    validate(def, &body)?;
    match apply_entries {
        Some(entries) => managed::write_entries(&mut body, &entries),
        None => managed::track_update(
            &def.kind,
            !def.custom,
            None,
            &mut body,
            &opts.field_manager,
            "",
            &def.api_version(),
            c.clock.timestamp(),
        ),
    }
    if opts.dry_run {
        return Ok(Written {
            object: body,
            warnings,
            created: true,
        });
    }
    let mut t = c.store.txn();
    if t.get_ref(&gr(def), ns_key(def, ns), &name).is_some() {
        return Err(ApiError::already_exists(&def.group, &def.plural, &name));
    }
    let stored = t.put(&gr(def), ns_key(def, ns), &name, body, EventType::Added);
    drop(t);
    after_write(c, def, &stored);
    Ok(Written {
        object: stored,
        warnings,
        created: true,
    })
}

/// The namespace key of an object of this resource.
pub fn ns_key<'a>(def: &ResourceDef, ns: &'a str) -> &'a str {
    if def.namespaced { ns } else { "" }
}

/// Side effects of writing certain kinds (CRDs register resources).
fn after_write(c: &Cluster, def: &ResourceDef, obj: &Value) {
    if def.kind == "CustomResourceDefinition" && obj["metadata"]["deletionTimestamp"].is_null() {
        c.registry
            .register_crd(crate::resources::defs_from_crd(obj));
    }
}

const RETRY: &str = "RetryableConflict";

/// Retry a write that lost a race without a resourceVersion precondition, as the API server does.
async fn retrying<F, Fut>(f: F) -> Result<Written, ApiError>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<Written, ApiError>>,
{
    let mut last = None;
    for _ in 0..8 {
        match f().await {
            Err(e) if e.reason == RETRY => last = Some(e),
            other => return other,
        }
    }
    let mut e = last.unwrap_or_else(|| ApiError::new(409, "Conflict", "conflict"));
    e.reason = "Conflict".into();
    Err(e)
}

/// Update (PUT) an object, or its status when `sub == "status"`.
pub async fn update(
    c: &Cluster,
    def: &ResourceDef,
    ns: &str,
    name: &str,
    sub: &str,
    body: Value,
    opts: &WriteOptions,
) -> Result<Written, ApiError> {
    retrying(|| update_once(c, def, ns, name, sub, body.clone(), opts)).await
}

/// Patch an object (or its status); apply patches create the object when missing.
#[allow(clippy::too_many_arguments)]
pub async fn patch(
    c: &Cluster,
    def: &ResourceDef,
    ns: &str,
    name: &str,
    sub: &str,
    ptype: PatchType,
    body: Value,
    opts: &WriteOptions,
) -> Result<Written, ApiError> {
    retrying(|| patch_once(c, def, ns, name, sub, ptype, body.clone(), opts)).await
}

async fn update_once(
    c: &Cluster,
    def: &ResourceDef,
    ns: &str,
    name: &str,
    sub: &str,
    mut body: Value,
    opts: &WriteOptions,
) -> Result<Written, ApiError> {
    check_type(def, &mut body)?;
    let body_name = body["metadata"]["name"].as_str().unwrap_or_default();
    if !body_name.is_empty() && body_name != name {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({body_name}) does not match the name on the URL ({name})"
        )));
    }
    let old = c
        .store
        .txn()
        .get(&gr(def), ns_key(def, ns), name)
        .ok_or_else(|| ApiError::not_found(&def.group, &def.plural, name))?;
    let precondition = body["metadata"]["resourceVersion"]
        .as_str()
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    write_existing(c, def, ns, name, sub, old, body, precondition, opts, None).await
}

#[allow(clippy::too_many_arguments)]
async fn patch_once(
    c: &Cluster,
    def: &ResourceDef,
    ns: &str,
    name: &str,
    sub: &str,
    ptype: PatchType,
    body: Value,
    opts: &WriteOptions,
) -> Result<Written, ApiError> {
    let existing = c.store.txn().get(&gr(def), ns_key(def, ns), name);
    let Some(old) = existing else {
        if ptype == PatchType::Apply && sub.is_empty() {
            return apply_create(c, def, ns, name, body, opts).await;
        }
        return Err(ApiError::not_found(&def.group, &def.plural, name));
    };
    let mut target = old.clone();
    let mut applied = None;
    match ptype {
        PatchType::Json => patch::json_patch(&mut target, &body)?,
        PatchType::Merge => patch::merge_patch(&mut target, &body),
        PatchType::Strategic => {
            if def.custom {
                return Err(ApiError::new(
                    415,
                    "UnsupportedMediaType",
                    "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml",
                ));
            }
            patch::strategic_merge_patch(&def.kind, &mut target, &body)?
        }
        PatchType::Apply => applied = Some(body.clone()),
    }
    let precondition = body["metadata"]["resourceVersion"]
        .as_str()
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    if let Some(a) = &applied {
        let mut a = a.clone();
        check_type(def, &mut a)?;
        if def.custom {
            decode_custom(def, &mut a, opts.field_validation, &mut vec![])?;
        }
        let req = managed::ApplyRequest {
            kind: &def.kind,
            builtin: !def.custom,
            manager: &opts.field_manager,
            force: opts.force,
            api_version: &def.api_version(),
            time: c.clock.timestamp(),
        };
        target = managed::apply(&req, &old, &a)?;
    }
    write_existing(
        c,
        def,
        ns,
        name,
        sub,
        old,
        target,
        precondition,
        opts,
        applied.is_some().then_some(()),
    )
    .await
}

async fn apply_create(
    c: &Cluster,
    def: &ResourceDef,
    ns: &str,
    name: &str,
    body: Value,
    opts: &WriteOptions,
) -> Result<Written, ApiError> {
    let mut body = body;
    check_type(def, &mut body)?;
    body["metadata"]["name"] = json!(name);
    let req = managed::ApplyRequest {
        kind: &def.kind,
        builtin: !def.custom,
        manager: &opts.field_manager,
        force: opts.force,
        api_version: &def.api_version(),
        time: c.clock.timestamp(),
    };
    let applied = managed::apply(&req, &json!({}), &body)?;
    let entries = managed::read_entries(&applied);
    create_inner(c, def, ns, applied, opts, Some(entries)).await
}

#[allow(clippy::too_many_arguments)]
async fn write_existing(
    c: &Cluster,
    def: &ResourceDef,
    ns: &str,
    name: &str,
    sub: &str,
    old: Value,
    mut new: Value,
    precondition: Option<String>,
    opts: &WriteOptions,
    applied: Option<()>,
) -> Result<Written, ApiError> {
    let mut warnings = vec![];
    let old_rv = old["metadata"]["resourceVersion"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    if precondition.as_ref().is_some_and(|p| *p != old_rv) {
        return Err(ApiError::conflict(&def.group, &def.plural, name));
    }
    check_type(def, &mut new)?;
    if sub == "status" {
        let status = new.get("status").cloned();
        let managed_fields = new["metadata"]["managedFields"].clone();
        new = old.clone();
        new["metadata"]["managedFields"] = managed_fields;
        match status {
            Some(s) => new["status"] = s,
            None => {
                if let Some(m) = new.as_object_mut() {
                    m.remove("status");
                }
            }
        }
    } else if def.status_subresource {
        match old.get("status") {
            Some(s) => new["status"] = s.clone(),
            None => {
                if let Some(m) = new.as_object_mut() {
                    m.remove("status");
                }
            }
        }
    }
    for k in [
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "generation",
        "namespace",
        "name",
    ] {
        match old["metadata"].get(k) {
            Some(v) => new["metadata"][k] = v.clone(),
            None => {
                if let Some(m) = new["metadata"].as_object_mut() {
                    m.remove(k);
                }
            }
        }
    }
    if def.custom {
        let fv = if applied.is_some() {
            FieldValidation::Ignore
        } else {
            opts.field_validation
        };
        decode_custom(def, &mut new, fv, &mut warnings)?;
    } else {
        defaults::builtin_defaults(&def.kind, &mut new);
    }
    if sub.is_empty() {
        let attrs = Attributes {
            def: def.clone(),
            namespace: ns.to_string(),
            name: name.to_string(),
            operation: Operation::Update,
            subresource: sub.to_string(),
            old: Some(old.clone()),
            opts: opts.clone(),
        };
        let (mutated, w) = admission::mutate(c, &attrs, new).await?;
        new = mutated;
        warnings.extend(w);
        if def.custom {
            decode_custom(def, &mut new, FieldValidation::Ignore, &mut vec![])?;
        }
    }
    if def.generation
        && cluster::generation_relevant(def, &old) != cluster::generation_relevant(def, &new)
    {
        let g = old["metadata"]["generation"].as_i64().unwrap_or(0);
        new["metadata"]["generation"] = json!(g + 1);
    }
    validate(def, &new)?;
    if applied.is_none() {
        managed::track_update(
            &def.kind,
            !def.custom,
            Some(&old),
            &mut new,
            &opts.field_manager,
            sub,
            &def.api_version(),
            c.clock.timestamp(),
        );
    }
    if cluster::comparable(&new) == cluster::comparable(&old) {
        return Ok(Written {
            object: old,
            warnings,
            created: false,
        });
    }
    if opts.dry_run {
        return Ok(Written {
            object: new,
            warnings,
            created: false,
        });
    }
    let mut t = c.store.txn();
    let current_rv = t
        .get_ref(&gr(def), ns_key(def, ns), name)
        .map(|o| o["metadata"]["resourceVersion"].clone());
    match current_rv {
        None => return Err(ApiError::not_found(&def.group, &def.plural, name)),
        Some(rv) if rv.as_str() != Some(old_rv.as_str()) => {
            let mut e = ApiError::conflict(&def.group, &def.plural, name);
            if precondition.is_none() {
                e.reason = RETRY.into();
            }
            return Err(e);
        }
        _ => {}
    }
    let finalize = new["metadata"]["deletionTimestamp"].is_string()
        && new["metadata"]["finalizers"]
            .as_array()
            .is_none_or(|f| f.is_empty());
    let stored = if finalize {
        let mut gone = new.clone();
        gone["metadata"]["resourceVersion"] = json!(old_rv);
        t.remove(&gr(def), ns_key(def, ns), name);
        gone
    } else {
        t.put(&gr(def), ns_key(def, ns), name, new, EventType::Modified)
    };
    drop(t);
    if finalize {
        crate::delete::after_delete(c, def, &stored);
    } else {
        after_write(c, def, &stored);
    }
    Ok(Written {
        object: stored,
        warnings,
        created: false,
    })
}
