//! The kubelet: runs the containers of scheduled pods against the image catalogue and reports
//! pod status. Tests read what a container saw through [`ContainerView`]; `pods/exec` runs
//! commands in running containers through [`KubeletState::exec`].

mod builtins;
pub mod env;
pub mod exec;
pub mod fs;
pub mod image;
mod run;
pub mod shell;
mod status;

pub use exec::{Exec, ExecEnd, ExecHandler, ExecProcess, ExecResult};
pub use fs::{ContainerFs, Volume};
pub use image::{Exit, Image, Process, Program};
pub use run::sync_pod;

use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

/// What a started container looked like: resolved env, command, files and output.
#[derive(Clone, Debug)]
pub struct ContainerView {
    /// Image reference.
    pub image: String,
    /// The final environment.
    pub env: BTreeMap<String, String>,
    /// Expanded command.
    pub command: Vec<String>,
    /// Expanded args.
    pub args: Vec<String>,
    /// The container's filesystem (live: later writes by other containers to shared volumes show).
    pub fs: ContainerFs,
    /// Everything the program printed, across restarts.
    pub logs: String,
    /// How many times it started.
    pub starts: u32,
    /// The last exit, if it exited.
    pub exit: Option<i32>,
}

impl ContainerView {
    /// Read a file as text.
    pub fn file(&self, path: &str) -> Option<String> {
        self.fs
            .read(path)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
    }

    /// Every file path under a directory.
    pub fn files(&self, dir: &str) -> Vec<String> {
        self.fs.list(dir)
    }
}

#[derive(Default)]
pub(crate) struct PodRuntime {
    pub uid: String,
    pub ip: String,
    pub volumes: HashMap<String, Volume>,
    pub init_done: usize,
    pub init_status: Vec<serde_json::Value>,
    pub app_status: Vec<serde_json::Value>,
    pub restarts: HashMap<String, u32>,
    pub next_attempt: Option<DateTime<Utc>>,
    pub started_at: String,
    pub failed: bool,
    pub conditions: BTreeMap<String, (bool, String)>,
}

#[derive(Default)]
pub(crate) struct Inner {
    pub images: HashMap<String, Image>,
    pub containers: HashMap<(String, String, String), ContainerView>,
    pub pods: HashMap<(String, String), PodRuntime>,
    pub next_ip: u32,
    pub strict_images: bool,
}

/// Kubelet state shared with tests: the image catalogue and the containers it ran.
#[derive(Clone, Default)]
pub struct KubeletState {
    pub(crate) inner: Arc<Mutex<Inner>>,
}

impl KubeletState {
    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Add (or replace) an image in the catalogue.
    pub fn register_image(&self, image: Image) {
        self.lock().images.insert(image.name.clone(), image);
    }

    /// When true, images missing from the catalogue fail to pull (ErrImagePull) instead of
    /// running as an empty image.
    pub fn set_strict_images(&self, strict: bool) {
        self.lock().strict_images = strict;
    }

    /// Find an image by exact reference, then by repository without tag.
    pub fn image(&self, reference: &str) -> Option<Image> {
        let inner = self.lock();
        inner.images.get(reference).cloned().or_else(|| {
            let repo = image::repository(reference);
            inner
                .images
                .values()
                .find(|i| image::repository(&i.name) == repo)
                .cloned()
        })
    }

    /// The last started instance of a container.
    pub fn container(&self, namespace: &str, pod: &str, container: &str) -> Option<ContainerView> {
        self.lock()
            .containers
            .get(&(namespace.into(), pod.into(), container.into()))
            .cloned()
    }

    /// `argv` ready to run in a container, if the container is running (started and not exited).
    pub fn exec(
        &self,
        namespace: &str,
        pod: &str,
        container: &str,
        argv: Vec<String>,
    ) -> Option<Exec> {
        let view = self
            .container(namespace, pod, container)
            .filter(|v| v.exit.is_none())?;
        let image = self.image(&view.image);
        Some(Exec::new(view, image.as_ref(), argv))
    }

    /// A container's log.
    pub fn logs(&self, namespace: &str, pod: &str, container: &str) -> Option<String> {
        self.container(namespace, pod, container).map(|c| c.logs)
    }

    pub(crate) fn forget_pod(&self, namespace: &str, pod: &str) {
        let mut inner = self.lock();
        inner.pods.remove(&(namespace.into(), pod.into()));
        inner
            .containers
            .retain(|(ns, p, _), _| !(ns == namespace && p == pod));
    }
}
