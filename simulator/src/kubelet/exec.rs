//! Running a command in a started container for `pods/exec`: against the container's resolved
//! environment and its filesystem (image files plus mounted volumes), with the commands the image
//! registers ([`super::Image::command`]), the [built-ins](super::builtins), `env` and `sh -c`.

use super::fs::ContainerFs;
use super::image::Image;
use super::{ContainerView, builtins, shell};
use std::collections::BTreeMap;
use std::sync::Arc;

/// The `PATH` a container gets when its image sets none (containerd's default).
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// A command running through `exec`, as its handler sees it.
pub struct ExecProcess {
    /// The environment: the container's, plus `PATH` and `HOME` when unset, plus any
    /// `env NAME=VALUE` assignments in front of the command.
    pub env: BTreeMap<String, String>,
    /// The command line, program first.
    pub argv: Vec<String>,
    /// The container's filesystem.
    pub fs: ContainerFs,
    /// What the client sent on stdin, up to its end (empty when the exec has no stdin).
    pub stdin: Vec<u8>,
    pub(crate) stdout: Vec<u8>,
    pub(crate) stderr: Vec<u8>,
}

impl ExecProcess {
    /// The arguments after the program name.
    pub fn args(&self) -> &[String] {
        self.argv.get(1..).unwrap_or_default()
    }

    /// Write bytes to stdout.
    pub fn print(&mut self, data: impl AsRef<[u8]>) {
        self.stdout.extend_from_slice(data.as_ref());
    }

    /// Write a line to stdout.
    pub fn println(&mut self, line: impl AsRef<str>) {
        self.print(line.as_ref());
        self.stdout.push(b'\n');
    }

    /// Write a line to stderr.
    pub fn eprintln(&mut self, line: impl AsRef<str>) {
        self.stderr.extend_from_slice(line.as_ref().as_bytes());
        self.stderr.push(b'\n');
    }

    /// Read a file as text.
    pub fn read_to_string(&self, path: &str) -> Option<String> {
        self.fs
            .read(path)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
    }
}

/// A command an image provides to `exec`: runs against the process, returns the exit code.
pub type ExecHandler = Arc<dyn Fn(&mut ExecProcess) -> i32 + Send + Sync>;

/// How an exec ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecEnd {
    /// The command ran and exited with this status.
    Exited(u8),
    /// The runtime could not start the command; the message is containerd's, e.g.
    /// `failed to exec in container: failed to start exec "…": OCI runtime exec failed: …`.
    NotStarted(String),
}

/// What an exec printed and how it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecResult {
    /// Everything written to stdout.
    pub stdout: Vec<u8>,
    /// Everything written to stderr.
    pub stderr: Vec<u8>,
    /// The exit status, or why the command did not start.
    pub end: ExecEnd,
}

impl ExecResult {
    /// Stdout as text.
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
}

/// A command line ready to run in a running container.
#[derive(Clone)]
pub struct Exec {
    view: ContainerView,
    commands: BTreeMap<String, ExecHandler>,
    argv: Vec<String>,
}

impl std::fmt::Debug for Exec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Exec")
            .field("image", &self.view.image)
            .field("argv", &self.argv)
            .finish()
    }
}

fn base_name(program: &str) -> &str {
    program.rsplit('/').next().unwrap_or(program)
}

fn is_shell(name: &str) -> bool {
    matches!(name, "sh" | "ash" | "bash" | "dash")
}

/// `env`'s leading `NAME=VALUE` words and the command after them.
fn env_assignments(args: &[String]) -> (Vec<(String, String)>, &[String]) {
    let n = args
        .iter()
        .take_while(|a| a.split_once('=').is_some_and(|(k, _)| !k.is_empty()))
        .count();
    let set = args[..n]
        .iter()
        .filter_map(|a| a.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    (set, &args[n..])
}

/// The random-looking ID containerd gives an exec, as its messages show it.
fn exec_id() -> String {
    rand::random::<[u8; 32]>()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// containerd's message for a program runc cannot start.
fn not_found_message(program: &str) -> String {
    let why = if program.contains('/') {
        format!("stat {program}: no such file or directory")
    } else {
        "executable file not found in $PATH".to_string()
    };
    format!(
        "failed to exec in container: failed to start exec \"{}\": OCI runtime exec failed: exec failed: unable to start container process: exec: \"{program}\": {why}: unknown",
        exec_id()
    )
}

impl Exec {
    /// Prepare `argv` to run in the container seen through `view`, with the commands of its image.
    pub fn new(view: ContainerView, image: Option<&Image>, argv: Vec<String>) -> Self {
        Exec {
            commands: image.map(|i| i.commands.clone()).unwrap_or_default(),
            view,
            argv,
        }
    }

    /// The command line.
    pub fn argv(&self) -> &[String] {
        &self.argv
    }

    fn handler(&self, program: &str) -> Option<&ExecHandler> {
        self.commands
            .get(program)
            .or_else(|| self.commands.get(base_name(program)))
    }

    /// Whether the command reads stdin, so that it can only run once stdin has ended: `cat`
    /// without files (or with `-`), `sh` without `-c`, and any command the image registers.
    pub fn reads_stdin(&self) -> bool {
        self.argv_reads_stdin(&self.argv)
    }

    fn argv_reads_stdin(&self, argv: &[String]) -> bool {
        let Some(program) = argv.first() else {
            return false;
        };
        if self.handler(program).is_some() {
            return true;
        }
        let name = base_name(program);
        let args = &argv[1..];
        match name {
            "env" => self.argv_reads_stdin(env_assignments(args).1),
            n if is_shell(n) => match args {
                [c, line, ..] if c == "-c" => shell::split(line, &self.view.env)
                    .is_ok_and(|words| self.argv_reads_stdin(&words)),
                _ => true,
            },
            n => builtins::reads_stdin(n, args),
        }
    }

    /// Run the command with what the client sent on stdin.
    pub fn run(&self, stdin: Vec<u8>) -> ExecResult {
        let mut env = self.view.env.clone();
        env.entry("PATH".into())
            .or_insert_with(|| DEFAULT_PATH.into());
        env.entry("HOME".into()).or_insert_with(|| "/root".into());
        let mut p = ExecProcess {
            env,
            argv: self.argv.clone(),
            fs: self.view.fs.clone(),
            stdin,
            stdout: vec![],
            stderr: vec![],
        };
        let end = match self.dispatch(&mut p) {
            Some(code) => ExecEnd::Exited((code & 0xff) as u8),
            None => ExecEnd::NotStarted(not_found_message(
                self.argv.first().map(String::as_str).unwrap_or_default(),
            )),
        };
        ExecResult {
            stdout: p.stdout,
            stderr: p.stderr,
            end,
        }
    }

    /// Run `p.argv`; `None` when there is no such program.
    fn dispatch(&self, p: &mut ExecProcess) -> Option<i32> {
        let program = p.argv.first()?.clone();
        if let Some(h) = self.handler(&program) {
            return Some(h(p));
        }
        match base_name(&program) {
            "env" => Some(self.env(p)),
            n if is_shell(n) => Some(self.shell(p, n)),
            n => builtins::get(n).map(|b| b(p)),
        }
    }

    /// `env [NAME=VALUE]... [COMMAND [ARG]...]`.
    fn env(&self, p: &mut ExecProcess) -> i32 {
        let args = p.args().to_vec();
        let (set, command) = env_assignments(&args);
        p.env.extend(set);
        if command.is_empty() {
            return builtins::print_env(p);
        }
        let name = command[0].clone();
        p.argv = command.to_vec();
        self.dispatch(p).unwrap_or_else(|| {
            p.eprintln(format!(
                "env: can't execute '{name}': No such file or directory"
            ));
            127
        })
    }

    /// `sh -c LINE` runs one simple command; `sh` alone runs stdin's lines one by one.
    fn shell(&self, p: &mut ExecProcess, sh: &str) -> i32 {
        let lines: Vec<String> = match p.args() {
            [c, line, ..] if c == "-c" => vec![line.clone()],
            [c] if c == "-c" => {
                p.eprintln(format!("{sh}: -c requires an argument"));
                return 2;
            }
            [] => String::from_utf8_lossy(&p.stdin)
                .lines()
                .map(str::to_string)
                .collect(),
            [script, ..] => {
                p.eprintln(format!(
                    "{sh}: can't open '{script}': scripts are not supported by kubesim"
                ));
                return 2;
            }
        };
        let mut code = 0;
        for line in lines {
            let words = match shell::split(&line, &p.env) {
                Ok(w) => w,
                Err(e) => {
                    p.eprintln(format!("{sh}: {e}"));
                    return 2;
                }
            };
            let Some(first) = words.first().cloned() else {
                continue;
            };
            if first == "exit" {
                return words
                    .get(1)
                    .map_or(Some(code), |c| c.parse().ok())
                    .unwrap_or(2);
            }
            let argv = std::mem::replace(&mut p.argv, words);
            code = self.dispatch(p).unwrap_or_else(|| {
                p.eprintln(format!("{sh}: {first}: not found"));
                127
            });
            p.argv = argv;
        }
        code
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kubelet::fs::{Mount, Volume};

    fn view() -> ContainerView {
        let root = Volume::with_files(
            [("etc/hostname".to_string(), b"web-0\n".to_vec())]
                .into_iter()
                .collect(),
        );
        let config = Volume::with_files(
            [("app.yaml".to_string(), b"level: debug\n".to_vec())]
                .into_iter()
                .collect(),
        );
        ContainerView {
            image: "busybox".into(),
            env: [("A", "1"), ("B", "two")]
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            command: vec![],
            args: vec![],
            fs: ContainerFs {
                root,
                mounts: vec![Mount {
                    path: "/etc/app".into(),
                    volume: config,
                    sub_path: String::new(),
                    read_only: true,
                }],
            },
            logs: String::new(),
            starts: 1,
            exit: None,
        }
    }

    fn run(argv: &[&str]) -> ExecResult {
        let argv = argv.iter().map(|s| s.to_string()).collect();
        Exec::new(view(), None, argv).run(vec![])
    }

    #[test]
    fn env_lists_sorted_variables_with_path_and_home() {
        let r = run(&["env"]);
        assert_eq!(r.end, ExecEnd::Exited(0));
        assert_eq!(
            r.stdout_text(),
            format!("A=1\nB=two\nHOME=/root\nPATH={DEFAULT_PATH}\n")
        );
        assert_eq!(run(&["printenv", "B"]).stdout_text(), "two\n");
        assert_eq!(run(&["printenv", "NOPE"]).end, ExecEnd::Exited(1));
        assert_eq!(run(&["env", "C=3", "printenv", "C"]).stdout_text(), "3\n");
    }

    #[test]
    fn files_directories_and_tests() {
        assert_eq!(
            run(&["cat", "/etc/app/app.yaml"]).stdout_text(),
            "level: debug\n"
        );
        let missing = run(&["cat", "/nope"]);
        assert_eq!(missing.end, ExecEnd::Exited(1));
        assert_eq!(
            missing.stderr,
            b"cat: can't open '/nope': No such file or directory\n"
        );
        assert_eq!(run(&["ls", "/etc"]).stdout_text(), "app\nhostname\n");
        assert_eq!(run(&["ls", "-1", "/etc/app"]).stdout_text(), "app.yaml\n");
        assert_eq!(run(&["test", "-d", "/etc/app"]).end, ExecEnd::Exited(0));
        assert_eq!(run(&["test", "-f", "/etc/app"]).end, ExecEnd::Exited(1));
        assert_eq!(
            run(&["[", "-e", "/etc/hostname", "]"]).end,
            ExecEnd::Exited(0)
        );
    }

    #[test]
    fn shells_exit_codes_and_missing_programs() {
        assert_eq!(
            run(&["sh", "-c", "echo \"$B\" $A"]).stdout_text(),
            "two 1\n"
        );
        assert_eq!(run(&["sh", "-c", "exit 3"]).end, ExecEnd::Exited(3));
        let r = run(&["sh", "-c", "nope"]);
        assert_eq!(
            (r.end, r.stderr),
            (ExecEnd::Exited(127), b"sh: nope: not found\n".to_vec())
        );
        assert_eq!(run(&["false"]).end, ExecEnd::Exited(1));
        match run(&["python"]).end {
            ExecEnd::NotStarted(m) => assert!(
                m.ends_with("exec: \"python\": executable file not found in $PATH: unknown"),
                "{m}"
            ),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn image_commands_take_precedence_and_read_stdin() {
        let image = Image::new("busybox").command("python", |p| {
            let input = String::from_utf8_lossy(&p.stdin).to_uppercase();
            p.print(input);
            4
        });
        let exec = Exec::new(view(), Some(&image), vec!["/usr/bin/python".into()]);
        assert!(exec.reads_stdin());
        let r = exec.run(b"print(1)\n".to_vec());
        assert_eq!(
            (r.stdout_text(), r.end),
            ("PRINT(1)\n".to_string(), ExecEnd::Exited(4))
        );
        assert!(!Exec::new(view(), Some(&image), vec!["env".into()]).reads_stdin());
    }
}
