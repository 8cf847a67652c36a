//! The injection core, free of I/O: which resource instruments a pod, which containers it
//! touches, and the RFC 6902 JSONPatch that does it, computed on the pod's raw JSON.
//!
//! [`mutate`] is the single entry point. A pod no resource selects gets no patch at all; a pod a
//! resource selects but that cannot be (fully) instrumented gets warnings and an annotation
//! naming the reason; an instrumented pod is annotated so that later invocations leave it alone.

mod choose;
mod containers;
mod env;
mod identity;
pub(crate) mod limits;
mod pod;
mod policy;
mod selector;

pub use choose::{Choice, choose};
pub use containers::{
    CONTAINER_LANGUAGES_ANNOTATION, ContainerDecision, EXCLUDE_CONTAINERS_ANNOTATION,
    INCLUDE_CONTAINERS_ANNOTATION, INJECT_PYTHON_ANNOTATION, choose_containers,
};
pub use env::merge_attributes;
pub use identity::{
    SERVICE_NAME_ANNOTATION, SERVICE_NAMESPACE_ANNOTATION, SERVICE_VERSION_ANNOTATION,
};
pub use limits::{
    MAX_CONTAINERS, MAX_ENV_PER_CONTAINER, MAX_PATCH_BYTES, MAX_RESOURCE_ATTRIBUTES_BYTES,
    MAX_RESOURCE_ATTRIBUTES_PAIRS, MAX_SKIP_ANNOTATION_BYTES, MAX_WARNING_BYTES, MAX_WARNINGS,
    cap_warnings, truncate,
};
pub use pod::PodView;
pub use policy::{
    DEFAULT_IMAGE_PREFIX, Policy, ResourceRef, Settings, default_init_resources, image_tag,
};
pub use selector::Selector;

mod mutate;
pub use mutate::{Decision, InjectConfig, Mutation, mutate};

/// Name of the shared volume holding the instrumentation packages.
pub const VOLUME_NAME: &str = "instrumentation-packages";
/// Where the shared volume is mounted, in the init container and the application containers.
pub const MOUNT_PATH: &str = "/instrumentation-packages";
/// Pod label and annotation that opt a pod out when set to `"false"`.
pub const OPT_OUT_KEY: &str = "openlit.io/inject";
/// Annotation naming the resource (`<namespace>/<name>`) that instrumented the pod.
pub const INSTRUMENTED_BY_ANNOTATION: &str = "openlit.io/instrumented-by";
/// Annotation holding the generation of that resource when the pod was instrumented.
pub const INSTRUMENTED_GENERATION_ANNOTATION: &str = "openlit.io/instrumented-generation";
/// Annotation explaining why a selected pod, or some of its containers, was not instrumented.
pub const SKIPPED_ANNOTATION: &str = "openlit.io/instrumentation-skipped";
/// Prefix of the injected init container's name (`auto-instrumentation-<provider>`).
pub const INIT_CONTAINER_PREFIX: &str = "auto-instrumentation";
