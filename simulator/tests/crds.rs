//! CustomResourceDefinitions register their resources at once, with defaults, pruning and validation.
mod common;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams,
};
use kube::discovery::Discovery;
use serde_json::json;

fn crd() -> CustomResourceDefinition {
    serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "widgets.example.com"},
        "spec": {"group": "example.com", "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wd"]},
            "versions": [{"name": "v1", "served": true, "storage": true, "subresources": {"status": {}},
                "additionalPrinterColumns": [{"name": "Size", "type": "integer", "jsonPath": ".spec.size"}],
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object", "required": ["image"], "properties": {
                        "image": {"type": "string", "minLength": 1},
                        "size": {"type": "integer", "default": 3, "minimum": 1},
                        "mode": {"type": "string", "enum": ["fast", "slow"]},
                        "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}},
                    "status": {"type": "object", "properties": {"ready": {"type": "boolean"}}}}}}}]}
    }))
    .unwrap()
}

async fn setup() -> (kubesim::Simulator, Api<DynamicObject>) {
    let sim = kubesim::Simulator::start().await.unwrap();
    let client = sim.client().unwrap();
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let made = crds.create(&PostParams::default(), &crd()).await.unwrap();
    let conds = made.status.unwrap().conditions.unwrap();
    assert!(
        conds
            .iter()
            .any(|c| c.type_ == "Established" && c.status == "True")
    );
    let ar = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("example.com", "v1", "Widget"),
        "widgets",
    );
    (sim, Api::namespaced_with(client, "default", &ar))
}

fn widget(name: &str, spec: serde_json::Value) -> DynamicObject {
    serde_json::from_value(json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": name}, "spec": spec})).unwrap()
}

#[tokio::test]
async fn crd_resources_are_discoverable_immediately() {
    let (sim, _) = setup().await;
    let discovery = Discovery::new(sim.client().unwrap()).run().await.unwrap();
    let group = discovery.get("example.com").expect("group discovered");
    let (ar, caps) = group.recommended_kind("Widget").expect("kind discovered");
    assert_eq!(ar.plural, "widgets");
    assert_eq!(caps.scope, kube::discovery::Scope::Namespaced);
}

#[tokio::test]
async fn defaults_are_applied_and_unknown_fields_pruned() {
    let (_sim, widgets) = setup().await;
    let w = widgets
        .create(
            &PostParams::default(),
            &widget(
                "w1",
                json!({"image": "x", "bogus": 1, "extra": {"kept": true}}),
            ),
        )
        .await
        .unwrap();
    assert_eq!(w.data["spec"]["size"], 3);
    assert!(w.data["spec"].get("bogus").is_none());
    assert_eq!(w.data["spec"]["extra"]["kept"], true);
    assert_eq!(w.metadata.generation, Some(1));
    let w = widgets
        .patch_status(
            "w1",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"ready": true}})),
        )
        .await
        .unwrap();
    assert_eq!(w.metadata.generation, Some(1));
    let w = widgets
        .patch(
            "w1",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"size": 5}})),
        )
        .await
        .unwrap();
    assert_eq!(w.metadata.generation, Some(2));
    assert_eq!(w.data["status"]["ready"], true);
}

#[tokio::test]
async fn schema_violations_are_422_with_field_paths() {
    let (_sim, widgets) = setup().await;
    let err = widgets
        .create(
            &PostParams::default(),
            &widget("w2", json!({"size": "big", "mode": "warp"})),
        )
        .await
        .unwrap_err();
    let kube::Error::Api(s) = err else { panic!() };
    assert_eq!(s.code, 422);
    assert_eq!(s.reason, "Invalid");
    assert_eq!(
        s.message,
        "Widget.example.com \"w2\" is invalid: [spec.mode: Unsupported value: \"warp\": supported values: \"fast\", \"slow\", spec.size: Invalid value: \"string\": spec.size in body must be of type integer: \"string\", spec.image: Required value]"
    );
    assert!(widgets.get_opt("w2").await.unwrap().is_none());
}

#[tokio::test]
async fn strict_field_validation_rejects_unknown_fields() {
    let (sim, widgets) = setup().await;
    let body = serde_json::to_vec(&widget("w3", json!({"image": "x", "bogus": 1}))).unwrap();
    let req = http::Request::post(
        "/apis/example.com/v1/namespaces/default/widgets?fieldValidation=Strict",
    )
    .header("content-type", "application/json")
    .body(body)
    .unwrap();
    let err = sim
        .client()
        .unwrap()
        .request::<DynamicObject>(req)
        .await
        .unwrap_err();
    assert!(widgets.get_opt("w3").await.unwrap().is_none());
    let kube::Error::Api(s) = err else { panic!() };
    assert_eq!(s.code, 400);
    assert_eq!(s.reason, "BadRequest");
    assert_eq!(
        s.message,
        "Widget in version \"v1\" cannot be handled as a Widget: strict decoding error: unknown field \"spec.bogus\""
    );
}
