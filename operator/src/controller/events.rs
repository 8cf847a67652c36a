//! Kubernetes Events (`events.k8s.io/v1`) about AutoInstrumentation resources, time-stamped by
//! the injected clock. Events are best effort: a failure to publish one is logged, never retried.

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{ObjectMeta, PostParams};
use kube::{Api, Client, Resource, ResourceExt};

use crate::clock::SharedClock;
use crate::crd::AutoInstrumentation;
use crate::inject::limits::truncate;

/// Longest note written (the API's limit is 1 kB).
const MAX_NOTE: usize = 1024;

/// Whether an event reports something normal or a problem.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    /// Informational.
    Normal,
    /// Something the user should look at.
    Warning,
}

/// Publishes events on behalf of one replica.
#[derive(Clone)]
pub struct Recorder {
    client: Client,
    clock: SharedClock,
    controller: String,
    instance: String,
    request_timeout: std::time::Duration,
}

impl Recorder {
    /// A recorder reporting as `controller` (e.g. `openlit.io/openlit-operator`) from `instance`.
    pub fn new(client: Client, clock: SharedClock, controller: String, instance: String) -> Self {
        Recorder {
            client,
            clock,
            controller,
            instance,
            request_timeout: crate::api::DEFAULT_REQUEST_TIMEOUT,
        }
    }

    /// Gives up on an Event the API server has not accepted within `limit` (on the clock).
    pub fn with_request_timeout(mut self, limit: std::time::Duration) -> Self {
        self.request_timeout = limit;
        self
    }

    /// Publishes one event regarding `resource`.
    pub async fn publish(
        &self,
        resource: &AutoInstrumentation,
        kind: EventType,
        reason: &str,
        note: &str,
    ) {
        let namespace = resource.namespace().unwrap_or_default();
        let name = resource.name_any();
        let event = Event {
            metadata: ObjectMeta {
                // A `-` before the server's random suffix: the API server refuses a prefix
                // ending in `.` (it must be a DNS subdomain once the suffix is masked).
                generate_name: Some(format!("{name}-")),
                namespace: Some(namespace.clone()),
                ..ObjectMeta::default()
            },
            event_time: Some(MicroTime(self.clock.now())),
            type_: Some(
                match kind {
                    EventType::Normal => "Normal",
                    EventType::Warning => "Warning",
                }
                .to_string(),
            ),
            reason: Some(reason.to_string()),
            action: Some("Reconcile".to_string()),
            note: Some(truncate(note, MAX_NOTE)),
            reporting_controller: Some(self.controller.clone()),
            reporting_instance: Some(self.instance.clone()),
            regarding: Some(ObjectReference {
                api_version: Some(AutoInstrumentation::api_version(&()).to_string()),
                kind: Some(AutoInstrumentation::kind(&()).to_string()),
                name: Some(name.clone()),
                namespace: Some(namespace.clone()),
                uid: resource.uid(),
                resource_version: resource.resource_version(),
                ..ObjectReference::default()
            }),
            ..Event::default()
        };
        let api: Api<Event> = Api::namespaced(self.client.clone(), &namespace);
        let params = PostParams::default();
        let created = api.create(&params, &event);
        if let Err(error) = crate::api::bounded(&*self.clock, self.request_timeout, created).await {
            tracing::warn!(%error, resource = %format!("{namespace}/{name}"), reason, "could not publish an event");
        }
    }
}
