//! The image catalogue: what files an image holds and what its program does.

use super::exec::{ExecHandler, ExecProcess};
use super::fs::ContainerFs;
use std::collections::BTreeMap;
use std::sync::Arc;

/// How a program run ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// The process keeps running (a server).
    Running,
    /// The process exited with this code.
    Code(i32),
}

/// A running process as a program sees it.
pub struct Process {
    /// The final environment.
    pub env: BTreeMap<String, String>,
    /// `command` after `$(VAR)` expansion (the image entrypoint when unset).
    pub command: Vec<String>,
    /// `args` after `$(VAR)` expansion.
    pub args: Vec<String>,
    /// The filesystem: image files plus mounted volumes.
    pub fs: ContainerFs,
    /// Pod name.
    pub pod: String,
    /// Container name.
    pub container: String,
    pub(crate) stdout: String,
}

impl Process {
    /// Print a line to the container log.
    pub fn println(&mut self, line: impl AsRef<str>) {
        self.stdout.push_str(line.as_ref());
        self.stdout.push('\n');
    }

    /// Read a file as text.
    pub fn read_to_string(&self, path: &str) -> Option<String> {
        self.fs
            .read(path)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
    }
}

/// A program: what an image does when a container starts.
pub type Program = Arc<dyn Fn(&mut Process) -> Exit + Send + Sync>;

/// An image in the catalogue.
#[derive(Clone)]
pub struct Image {
    /// Image reference, e.g. `busybox:1.36`.
    pub name: String,
    pub(crate) files: BTreeMap<String, Vec<u8>>,
    pub(crate) env: Vec<(String, String)>,
    pub(crate) entrypoint: Vec<String>,
    pub(crate) program: Option<Program>,
    pub(crate) commands: BTreeMap<String, ExecHandler>,
}

impl std::fmt::Debug for Image {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Image")
            .field("name", &self.name)
            .field("files", &self.files.keys().collect::<Vec<_>>())
            .field("commands", &self.commands.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Image {
    /// An empty image: app containers keep running, init containers exit 0.
    pub fn new(name: impl Into<String>) -> Self {
        Image {
            name: name.into(),
            files: BTreeMap::new(),
            env: vec![],
            entrypoint: vec![],
            program: None,
            commands: BTreeMap::new(),
        }
    }

    /// Add a file at an absolute path.
    pub fn file(mut self, path: impl Into<String>, data: impl Into<Vec<u8>>) -> Self {
        self.files
            .insert(path.into().trim_start_matches('/').to_string(), data.into());
        self
    }

    /// Add an environment variable baked into the image.
    pub fn env(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((name.into(), value.into()));
        self
    }

    /// Set the image entrypoint (used when the container has no `command`).
    pub fn entrypoint(mut self, cmd: &[&str]) -> Self {
        self.entrypoint = cmd.iter().map(|s| s.to_string()).collect();
        self
    }

    /// Set the program run when a container of this image starts.
    pub fn program(mut self, p: impl Fn(&mut Process) -> Exit + Send + Sync + 'static) -> Self {
        self.program = Some(Arc::new(p));
        self
    }

    /// Add a command that `exec` can run in containers of this image, found by its name or base
    /// name (`python` also answers `/usr/bin/python`). It takes precedence over the built-in
    /// commands and returns the exit code. The handler gets stdin only when the exec asked for it.
    pub fn command(
        mut self,
        name: impl Into<String>,
        handler: impl Fn(&mut ExecProcess) -> i32 + Send + Sync + 'static,
    ) -> Self {
        self.commands.insert(name.into(), Arc::new(handler));
        self
    }
}

/// Strip the tag or digest from an image reference.
pub fn repository(image: &str) -> &str {
    let no_digest = image.split('@').next().unwrap_or(image);
    match no_digest.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => repo,
        _ => no_digest,
    }
}
