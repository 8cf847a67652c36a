//! Container filesystems: image files plus mounted volumes shared between containers.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// A directory tree of files (path → contents), shared by reference.
#[derive(Clone, Default, Debug)]
pub struct Volume {
    files: Arc<Mutex<BTreeMap<String, Vec<u8>>>>,
}

impl Volume {
    /// A volume holding these files (paths relative to the volume root).
    pub fn with_files(files: BTreeMap<String, Vec<u8>>) -> Self {
        Volume {
            files: Arc::new(Mutex::new(files)),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Vec<u8>>> {
        self.files.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Read a file.
    pub fn read(&self, rel: &str) -> Option<Vec<u8>> {
        self.lock().get(rel).cloned()
    }

    /// Write a file.
    pub fn write(&self, rel: &str, data: Vec<u8>) {
        self.lock().insert(rel.to_string(), data);
    }

    /// Every file path under a relative directory.
    pub fn list(&self, rel_dir: &str) -> Vec<String> {
        let prefix = if rel_dir.is_empty() {
            String::new()
        } else {
            format!("{}/", rel_dir.trim_end_matches('/'))
        };
        self.lock()
            .keys()
            .filter(|k| k.starts_with(&prefix))
            .cloned()
            .collect()
    }
}

/// One mount in a container.
#[derive(Clone, Debug)]
pub struct Mount {
    /// Absolute mount path.
    pub path: String,
    /// The volume.
    pub volume: Volume,
    /// `subPath` inside the volume.
    pub sub_path: String,
    /// Whether writes are refused.
    pub read_only: bool,
}

/// What a container sees: its own layer (image files and writes) plus mounts.
#[derive(Clone, Debug, Default)]
pub struct ContainerFs {
    /// The container's own layer.
    pub root: Volume,
    /// Mounts, any order.
    pub mounts: Vec<Mount>,
}

/// Normalise an absolute path: resolve `.` and `..`, drop empty segments.
pub(crate) fn norm(path: &str) -> String {
    let mut parts: Vec<&str> = vec![];
    for p in path.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

impl ContainerFs {
    fn resolve(&self, path: &str) -> (Volume, String, bool) {
        let path = norm(path);
        let best = self
            .mounts
            .iter()
            .filter(|m| {
                let mp = norm(&m.path);
                path == mp || path.starts_with(&format!("{}/", mp.trim_end_matches('/')))
            })
            .max_by_key(|m| m.path.len());
        match best {
            Some(m) => {
                let rest = path[norm(&m.path).len()..]
                    .trim_start_matches('/')
                    .to_string();
                let rel = if m.sub_path.is_empty() {
                    rest
                } else if rest.is_empty() {
                    m.sub_path.clone()
                } else {
                    format!("{}/{rest}", m.sub_path)
                };
                (m.volume.clone(), rel, m.read_only)
            }
            None => (
                self.root.clone(),
                path.trim_start_matches('/').to_string(),
                false,
            ),
        }
    }

    /// Read a file by absolute path.
    pub fn read(&self, path: &str) -> Option<Vec<u8>> {
        let (v, rel, _) = self.resolve(path);
        v.read(&rel)
    }

    /// Write a file by absolute path; fails on read-only mounts.
    pub fn write(&self, path: &str, data: impl Into<Vec<u8>>) -> Result<(), String> {
        let (v, rel, ro) = self.resolve(path);
        if ro {
            return Err(format!("{path}: read-only file system"));
        }
        v.write(&rel, data.into());
        Ok(())
    }

    /// Every file under an absolute directory path (absolute paths).
    pub fn list(&self, dir: &str) -> Vec<String> {
        let dir = norm(dir);
        let (v, rel, _) = self.resolve(&dir);
        let base = dir.trim_end_matches('/').to_string();
        v.list(&rel)
            .into_iter()
            .map(|f| {
                let tail = f[rel.len()..].trim_start_matches('/');
                format!("{base}/{tail}")
            })
            .collect()
    }

    /// Whether a path is a directory: the root, a mount point or an ancestor of one, or a path
    /// with files under it (directories exist only through what they hold).
    pub fn is_dir(&self, path: &str) -> bool {
        let path = norm(path);
        if path == "/" {
            return true;
        }
        if self.read(&path).is_some() {
            return false;
        }
        let below = format!("{path}/");
        self.mounts.iter().any(|m| {
            let mp = norm(&m.path);
            mp == path || mp.starts_with(&below)
        }) || !self.list(&path).is_empty()
    }

    /// Whether a file or directory exists at a path.
    pub fn exists(&self, path: &str) -> bool {
        self.read(path).is_some() || self.is_dir(path)
    }

    /// The names directly inside a directory (files, subdirectories and mount points), sorted.
    pub fn entries(&self, dir: &str) -> Vec<String> {
        let dir = norm(dir);
        let base = if dir == "/" {
            "/".to_string()
        } else {
            format!("{dir}/")
        };
        let mut names = std::collections::BTreeSet::new();
        let inner = self.list(&dir).into_iter();
        let mounted = self.mounts.iter().map(|m| norm(&m.path));
        for path in inner.chain(mounted) {
            if let Some(first) = path
                .strip_prefix(&base)
                .and_then(|rest| rest.split('/').next())
                .filter(|first| !first.is_empty())
            {
                names.insert(first.to_string());
            }
        }
        names.into_iter().collect()
    }

    /// Copy every file under `from` to `to` (like `cp -r from/. to/`).
    pub fn copy_dir(&self, from: &str, to: &str) -> Result<usize, String> {
        let from_n = norm(from);
        let files = self.list(&from_n);
        for f in &files {
            let rel = f[from_n.trim_end_matches('/').len()..].trim_start_matches('/');
            let data = self.read(f).unwrap_or_default();
            self.write(&format!("{}/{rel}", to.trim_end_matches('/')), data)?;
        }
        Ok(files.len())
    }
}
