//! Body bytes in, reply out: the webhook's AdmissionReview handling must never panic and must
//! answer 200 (an AdmissionReview) or 400 (anything else).
#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use openlit_operator::crd::AutoInstrumentation;
use openlit_operator::inject::{InjectConfig, Policy};
use openlit_operator::webhook::{StaticPolicies, review};

fn source() -> &'static StaticPolicies {
    static SOURCE: OnceLock<StaticPolicies> = OnceLock::new();
    SOURCE.get_or_init(|| {
        let resource: AutoInstrumentation =
            serde_saphyr::from_str(include_str!("../../examples/autoinstrumentation.yaml"))
                .expect("example resource");
        let mut global = resource.clone();
        global.metadata.namespace = Some("openlit".into());
        global.metadata.name = Some("everything".into());
        StaticPolicies(vec![
            Arc::new(Policy::compile(&resource, "ghcr.io/openlit")),
            Arc::new(Policy::compile(&global, "ghcr.io/openlit")),
        ])
    })
}

fuzz_target!(|body: &[u8]| {
    let reply = review(body, source(), &InjectConfig::default());
    assert!(
        reply.status == 200 || reply.status == 400,
        "status {}",
        reply.status
    );
    if reply.status == 200 {
        let parsed: serde_json::Value =
            serde_json::from_slice(&reply.body).expect("a 200 reply is JSON");
        assert_eq!(parsed["response"]["allowed"], true, "never refuses a pod");
    }
});
