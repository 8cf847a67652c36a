//! API server semantics seen through kube::Client.
mod common;

use common::{eventually, wait_for};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::api::{
    Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube::runtime::watcher;
use serde_json::json;
use std::time::Duration;

fn cm(name: &str, v: &str) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name}, "data": {"k": v}})).unwrap()
}

fn deployment(name: &str, replicas: i32) -> Deployment {
    serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]}}}
    }))
    .unwrap()
}

#[tokio::test]
async fn stale_update_gets_409() {
    let sim = kubesim::Simulator::start().await.unwrap();
    let cms: Api<ConfigMap> = Api::default_namespaced(sim.client().unwrap());
    let first = cms
        .create(&PostParams::default(), &cm("c", "1"))
        .await
        .unwrap();
    let mut fresh = first.clone();
    fresh.data = Some([("k".to_string(), "2".to_string())].into());
    cms.replace("c", &PostParams::default(), &fresh)
        .await
        .unwrap();
    let mut stale = first.clone();
    stale.data = Some([("k".to_string(), "3".to_string())].into());
    let err = cms
        .replace("c", &PostParams::default(), &stale)
        .await
        .unwrap_err();
    let kube::Error::Api(s) = err else {
        panic!("expected an API error")
    };
    assert_eq!(s.code, 409);
    assert_eq!(s.reason, "Conflict");
    assert_eq!(
        s.message,
        "Operation cannot be fulfilled on configmaps \"c\": the object has been modified; please apply your changes to the latest version and try again"
    );
    assert_eq!(cms.get("c").await.unwrap().data.unwrap()["k"], "2");
}

#[tokio::test]
async fn watch_from_compacted_resource_version_gets_410() {
    let sim = kubesim::Simulator::start().await.unwrap();
    let cms: Api<ConfigMap> = Api::default_namespaced(sim.client().unwrap());
    let c = cms
        .create(&PostParams::default(), &cm("c", "1"))
        .await
        .unwrap();
    let old_rv = c.metadata.resource_version.unwrap();
    cms.patch(
        "c",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"k": "2"}})),
    )
    .await
    .unwrap();
    sim.compact_history();
    let mut stream = cms
        .watch(&WatchParams::default(), &old_rv)
        .await
        .unwrap()
        .boxed();
    match stream.try_next().await.unwrap() {
        Some(WatchEvent::Error(e)) => {
            assert_eq!(e.code, 410);
            assert_eq!(e.reason, "Expired");
            assert!(
                e.message
                    .starts_with(&format!("too old resource version: {old_rv} (")),
                "{}",
                e.message
            );
        }
        other => panic!("expected a 410 error event, got {other:?}"),
    }
}

#[tokio::test]
async fn watcher_relists_after_410() {
    let sim = kubesim::Simulator::start().await.unwrap();
    let cms: Api<ConfigMap> = Api::default_namespaced(sim.client().unwrap());
    cms.create(&PostParams::default(), &cm("before", "1"))
        .await
        .unwrap();
    let mut events = watcher(cms.clone(), watcher::Config::default().labels("!skip")).boxed();
    let mut inits = 0;
    let mut seen_after = false;
    let mut broke = false;
    tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(ev) = events.next().await {
            let Ok(ev) = ev else { continue };
            match ev {
                watcher::Event::Init => inits += 1,
                watcher::Event::InitDone if !broke => {
                    broke = true;
                    cms.create(&PostParams::default(), &cm("after", "1"))
                        .await
                        .unwrap();
                    sim.compact_history();
                    sim.faults().break_watches("configmaps");
                }
                watcher::Event::InitApply(o) | watcher::Event::Apply(o)
                    if o.metadata.name.as_deref() == Some("after") && inits >= 2 =>
                {
                    seen_after = true;
                    break;
                }
                _ => {}
            }
        }
    })
    .await
    .expect("watcher relisted in time");
    assert!(inits >= 2, "the watcher relisted after 410");
    assert!(seen_after);
}

#[tokio::test]
async fn bookmarks_arrive() {
    let sim = kubesim::Simulator::start().await.unwrap();
    let cms: Api<ConfigMap> = Api::default_namespaced(sim.client().unwrap());
    let rv = cms
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    let mut stream = cms
        .watch(&WatchParams::default(), &rv)
        .await
        .unwrap()
        .boxed();
    sim.clock().advance(Duration::from_secs(60));
    let ev = tokio::time::timeout(Duration::from_secs(10), stream.try_next())
        .await
        .unwrap()
        .unwrap();
    match ev {
        Some(WatchEvent::Bookmark(b)) => assert!(
            b.metadata.resource_version.parse::<u64>().unwrap() >= rv.parse::<u64>().unwrap()
        ),
        other => panic!("expected a bookmark, got {other:?}"),
    }
}

#[tokio::test]
async fn initial_events_end_with_a_bookmark() {
    let sim = kubesim::Simulator::start().await.unwrap();
    let cms: Api<ConfigMap> = Api::default_namespaced(sim.client().unwrap());
    cms.create(&PostParams::default(), &cm("c", "1"))
        .await
        .unwrap();
    let mut events = watcher(cms, watcher::Config::default().streaming_lists()).boxed();
    let mut names = vec![];
    while let Some(ev) = events.try_next().await.unwrap() {
        match ev {
            watcher::Event::InitApply(o) => names.push(o.metadata.name.unwrap()),
            watcher::Event::InitDone => break,
            _ => {}
        }
    }
    assert!(names.contains(&"c".to_string()));
}

#[tokio::test]
async fn generation_moves_on_spec_writes_only() {
    let sim = kubesim::Simulator::builder()
        .controllers(false)
        .start()
        .await
        .unwrap();
    let deps: Api<Deployment> = Api::default_namespaced(sim.client().unwrap());
    let d = deps
        .create(&PostParams::default(), &deployment("web", 1))
        .await
        .unwrap();
    assert_eq!(d.metadata.generation, Some(1));
    let d = deps
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"x": "y"}}})),
        )
        .await
        .unwrap();
    assert_eq!(
        d.metadata.generation,
        Some(1),
        "a label change does not move generation"
    );
    let d = deps
        .patch_status(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"observedGeneration": 1, "replicas": 3}})),
        )
        .await
        .unwrap();
    assert_eq!(
        d.metadata.generation,
        Some(1),
        "a status write does not move generation"
    );
    let d = deps
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 2}})),
        )
        .await
        .unwrap();
    assert_eq!(d.metadata.generation, Some(2));
}

#[tokio::test]
async fn status_and_spec_are_kept_apart() {
    let sim = kubesim::Simulator::builder()
        .controllers(false)
        .start()
        .await
        .unwrap();
    let deps: Api<Deployment> = Api::default_namespaced(sim.client().unwrap());
    deps.create(&PostParams::default(), &deployment("web", 1))
        .await
        .unwrap();
    let mut d = deps.get("web").await.unwrap();
    d.spec.as_mut().unwrap().replicas = Some(5);
    d.status = Some(serde_json::from_value(json!({"replicas": 7})).unwrap());
    let after_status = deps
        .replace_status("web", &PostParams::default(), &d)
        .await
        .unwrap();
    assert_eq!(
        after_status.spec.unwrap().replicas,
        Some(1),
        "a status write does not change spec"
    );
    assert_eq!(after_status.status.unwrap().replicas, Some(7));
    let mut d = deps.get("web").await.unwrap();
    d.spec.as_mut().unwrap().replicas = Some(4);
    d.status = Some(serde_json::from_value(json!({"replicas": 99})).unwrap());
    let after_spec = deps
        .replace("web", &PostParams::default(), &d)
        .await
        .unwrap();
    assert_eq!(after_spec.spec.unwrap().replicas, Some(4));
    assert_eq!(
        after_spec.status.unwrap().replicas,
        Some(7),
        "a spec write does not change status"
    );
}

#[tokio::test]
async fn finalizer_keeps_object_with_deletion_timestamp() {
    let sim = kubesim::Simulator::start().await.unwrap();
    let cms: Api<ConfigMap> = Api::default_namespaced(sim.client().unwrap());
    let mut c = cm("held", "1");
    c.metadata.finalizers = Some(vec!["example.com/hold".into()]);
    cms.create(&PostParams::default(), &c).await.unwrap();
    cms.delete("held", &DeleteParams::default()).await.unwrap();
    let lingering = cms.get("held").await.unwrap();
    assert!(lingering.metadata.deletion_timestamp.is_some());
    assert_eq!(
        lingering.metadata.finalizers.as_deref(),
        Some(&["example.com/hold".to_string()][..])
    );
    cms.patch(
        "held",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    assert!(cms.get_opt("held").await.unwrap().is_none());
}

#[tokio::test]
async fn deleting_a_deployment_removes_its_replicasets_and_pods() {
    let sim = kubesim::Simulator::start().await.unwrap();
    let client = sim.client().unwrap();
    let deps: Api<Deployment> = Api::default_namespaced(client.clone());
    let rss: Api<ReplicaSet> = Api::default_namespaced(client.clone());
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    deps.create(&PostParams::default(), &deployment("web", 2))
        .await
        .unwrap();
    wait_for(&deps, "web", |d| {
        d.status.as_ref().and_then(|s| s.ready_replicas) == Some(2)
    })
    .await;
    let lp = ListParams::default().labels("app=web");
    assert_eq!(rss.list(&lp).await.unwrap().items.len(), 1);
    let listed = pods.list(&lp).await.unwrap().items;
    assert_eq!(listed.len(), 2);
    assert!(
        listed
            .iter()
            .all(|p| p.metadata.name.as_ref().unwrap().starts_with("web-"))
    );
    deps.delete("web", &DeleteParams::default()).await.unwrap();
    eventually("replicasets and pods are garbage collected", || async {
        rss.list(&lp).await.unwrap().items.is_empty()
            && pods.list(&lp).await.unwrap().items.is_empty()
    })
    .await;
}

#[tokio::test]
async fn generate_name_gives_unique_names() {
    let sim = kubesim::Simulator::start().await.unwrap();
    let cms: Api<ConfigMap> = Api::default_namespaced(sim.client().unwrap());
    let mut names = std::collections::BTreeSet::new();
    for _ in 0..25 {
        let c: ConfigMap =
            serde_json::from_value(json!({"metadata": {"generateName": "gen-"}})).unwrap();
        let made = cms.create(&PostParams::default(), &c).await.unwrap();
        let n = made.metadata.name.unwrap();
        assert!(n.starts_with("gen-") && n.len() == 9, "{n}");
        names.insert(n);
    }
    assert_eq!(names.len(), 25);
}

#[tokio::test]
async fn server_side_apply_reports_conflicts_between_managers() {
    let sim = kubesim::Simulator::start().await.unwrap();
    let cms: Api<ConfigMap> = Api::default_namespaced(sim.client().unwrap());
    let body = |v: &str| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "shared"}, "data": {"k": v}});
    cms.patch(
        "shared",
        &PatchParams::apply("alice"),
        &Patch::Apply(body("a")),
    )
    .await
    .unwrap();
    let err = cms
        .patch(
            "shared",
            &PatchParams::apply("bob"),
            &Patch::Apply(body("b")),
        )
        .await
        .unwrap_err();
    let kube::Error::Api(s) = err else {
        panic!("expected an API error")
    };
    assert_eq!(s.code, 409);
    assert_eq!(s.reason, "Conflict");
    assert_eq!(
        s.message,
        "Apply failed with 1 conflict: conflict with \"alice\": .data.k"
    );
    let forced = cms
        .patch(
            "shared",
            &PatchParams::apply("bob").force(),
            &Patch::Apply(body("b")),
        )
        .await
        .unwrap();
    assert_eq!(forced.data.unwrap()["k"], "b");
    let managers: Vec<String> = forced
        .metadata
        .managed_fields
        .unwrap()
        .into_iter()
        .filter_map(|m| m.manager)
        .collect();
    assert_eq!(managers, vec!["bob".to_string()]);
}

#[tokio::test]
async fn update_then_apply_conflicts_name_the_updater() {
    let sim = kubesim::Simulator::start().await.unwrap();
    let cms: Api<ConfigMap> = Api::default_namespaced(sim.client().unwrap());
    cms.create(
        &PostParams {
            field_manager: Some("creator".into()),
            ..Default::default()
        },
        &cm("c", "1"),
    )
    .await
    .unwrap();
    let err = cms
        .patch("c", &PatchParams::apply("applier"), &Patch::Apply(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"k": "2"}})))
        .await
        .unwrap_err();
    let kube::Error::Api(s) = err else { panic!() };
    assert_eq!(s.code, 409);
    assert!(
        s.message
            .starts_with("Apply failed with 1 conflict: conflict with \"creator\" using v1 at "),
        "{}",
        s.message
    );
    assert!(s.message.ends_with(": .data.k"));
}

#[tokio::test]
async fn selectors_and_pagination() {
    let sim = kubesim::Simulator::start().await.unwrap();
    let cms: Api<ConfigMap> = Api::default_namespaced(sim.client().unwrap());
    for i in 0..7 {
        let mut c = cm(&format!("c{i}"), "v");
        c.metadata.labels = Some(
            [(
                "tier".to_string(),
                if i % 2 == 0 { "even" } else { "odd" }.to_string(),
            )]
            .into(),
        );
        cms.create(&PostParams::default(), &c).await.unwrap();
    }
    assert_eq!(
        cms.list(&ListParams::default().labels("tier=even"))
            .await
            .unwrap()
            .items
            .len(),
        4
    );
    assert_eq!(
        cms.list(&ListParams::default().labels("tier in (odd),tier!=even"))
            .await
            .unwrap()
            .items
            .len(),
        3
    );
    assert_eq!(
        cms.list(&ListParams::default().fields("metadata.name=c3"))
            .await
            .unwrap()
            .items
            .len(),
        1
    );
    let mut lp = ListParams::default().labels("tier").limit(3);
    let mut all = vec![];
    loop {
        let page = cms.list(&lp).await.unwrap();
        assert!(page.items.len() <= 3);
        all.extend(page.items.into_iter().map(|c| c.metadata.name.unwrap()));
        match page.metadata.continue_ {
            Some(c) if !c.is_empty() => lp = lp.continue_token(&c),
            _ => break,
        }
    }
    assert_eq!(all, (0..7).map(|i| format!("c{i}")).collect::<Vec<_>>());
}

#[tokio::test]
async fn strategic_merge_patch_merges_env_by_name() {
    let sim = kubesim::Simulator::builder()
        .controllers(false)
        .start()
        .await
        .unwrap();
    let deps: Api<Deployment> = Api::default_namespaced(sim.client().unwrap());
    let mut d = deployment("web", 1);
    d.spec
        .as_mut()
        .unwrap()
        .template
        .spec
        .as_mut()
        .unwrap()
        .containers[0]
        .env = Some(serde_json::from_value(json!([{"name": "A", "value": "1"}])).unwrap());
    deps.create(&PostParams::default(), &d).await.unwrap();
    let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "env": [{"name": "B", "value": "2"}]}]}}}});
    let d = deps
        .patch("web", &PatchParams::default(), &Patch::Strategic(patch))
        .await
        .unwrap();
    let c = &d.spec.unwrap().template.spec.unwrap().containers[0];
    assert_eq!(c.image.as_deref(), Some("nginx:1.27"));
    let env: Vec<String> = c.env.clone().unwrap().into_iter().map(|e| e.name).collect();
    assert_eq!(env, vec!["A", "B"]);
}

#[tokio::test]
async fn forced_conflicts_and_refusals_from_fault_injection() {
    let sim = kubesim::Simulator::start().await.unwrap();
    let cms: Api<ConfigMap> = Api::default_namespaced(sim.client().unwrap());
    cms.create(&PostParams::default(), &cm("c", "1"))
        .await
        .unwrap();
    sim.faults().conflict_next("configmaps", 1);
    let p = Patch::Merge(json!({"data": {"k": "2"}}));
    let err = cms
        .patch("c", &PatchParams::default(), &p)
        .await
        .unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref s) if s.code == 409),
        "{err:?}"
    );
    cms.patch("c", &PatchParams::default(), &p).await.unwrap();
    sim.faults().refuse("configmaps", &["get"], 500);
    assert!(matches!(cms.get("c").await.unwrap_err(), kube::Error::Api(ref s) if s.code == 500));
    sim.faults().clear();
    assert_eq!(cms.get("c").await.unwrap().data.unwrap()["k"], "2");
    assert_eq!(sim.request_count("patch", "configmaps", ""), 2);
}
