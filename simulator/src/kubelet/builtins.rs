//! The commands every simulated container has for `exec`, behaving like busybox's: `printenv`,
//! `cat`, `ls`, `test`/`[`, `true`, `false` and `echo`. (`env` and `sh` run other commands and
//! live with the dispatcher in [`super::exec`].)

use super::exec::ExecProcess;

/// A built-in command: runs against the process and returns its exit code.
pub(crate) type Builtin = fn(&mut ExecProcess) -> i32;

/// The built-in command called `name`, if there is one.
pub(crate) fn get(name: &str) -> Option<Builtin> {
    Some(match name {
        "printenv" => printenv,
        "cat" => cat,
        "ls" => ls,
        "test" => test,
        "[" => bracket,
        "true" => |_| 0,
        "false" => |_| 1,
        "echo" => echo,
        _ => return None,
    })
}

/// Whether the built-in reads stdin when run with these arguments (`cat` without files or
/// with `-`).
pub(crate) fn reads_stdin(name: &str, args: &[String]) -> bool {
    name == "cat" && (args.is_empty() || args.iter().any(|a| a == "-"))
}

/// Print the environment as `NAME=VALUE` lines, sorted by name.
pub(crate) fn print_env(p: &mut ExecProcess) -> i32 {
    let lines: String = p.env.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
    p.print(lines);
    0
}

fn printenv(p: &mut ExecProcess) -> i32 {
    let names = p.args().to_vec();
    if names.is_empty() {
        return print_env(p);
    }
    let mut code = 0;
    for name in names {
        match p.env.get(&name).cloned() {
            Some(v) => p.println(v),
            None => code = 1,
        }
    }
    code
}

fn cat(p: &mut ExecProcess) -> i32 {
    let mut operands = p.args().to_vec();
    if operands.is_empty() {
        operands.push("-".into());
    }
    let mut code = 0;
    for op in operands {
        if op == "-" {
            let input = p.stdin.clone();
            p.print(input);
        } else if let Some(data) = p.fs.read(&op) {
            p.print(data);
        } else if p.fs.is_dir(&op) {
            p.eprintln("cat: read error: Is a directory");
            code = 1;
        } else {
            p.eprintln(format!("cat: can't open '{op}': No such file or directory"));
            code = 1;
        }
    }
    code
}

fn ls(p: &mut ExecProcess) -> i32 {
    let mut operands = vec![];
    for a in p.args().to_vec() {
        match a.strip_prefix('-') {
            Some(flags) if !flags.is_empty() => {
                if let Some(f) = flags.chars().find(|f| !matches!(f, '1' | 'a' | 'A')) {
                    p.eprintln(format!("ls: option not supported by kubesim: -{f}"));
                    return 1;
                }
            }
            _ => operands.push(a),
        }
    }
    if operands.is_empty() {
        operands.push(".".into());
    }
    let mut code = 0;
    let (mut files, mut dirs) = (vec![], vec![]);
    for op in operands {
        if p.fs.read(&op).is_some() {
            files.push(op);
        } else if p.fs.is_dir(&op) {
            dirs.push(op);
        } else {
            p.eprintln(format!("ls: {op}: No such file or directory"));
            code = 1;
        }
    }
    let headers = files.len() + dirs.len() > 1;
    for f in &files {
        p.println(f);
    }
    for (i, d) in dirs.iter().enumerate() {
        if headers {
            if i > 0 || !files.is_empty() {
                p.println("");
            }
            p.println(format!("{d}:"));
        }
        for e in p.fs.entries(d) {
            p.println(e);
        }
    }
    code
}

fn echo(p: &mut ExecProcess) -> i32 {
    let mut args = p.args().to_vec();
    let newline = args.first().is_none_or(|a| a != "-n");
    if !newline {
        args.remove(0);
    }
    let mut out = args.join(" ");
    if newline {
        out.push('\n');
    }
    p.print(out);
    0
}

fn bracket(p: &mut ExecProcess) -> i32 {
    if p.argv.last().is_none_or(|a| a != "]") {
        p.eprintln("[: missing ]");
        return 2;
    }
    p.argv.pop();
    test(p)
}

/// `test`: file tests `-e -f -d -s`, string tests `-n -z`, `=`, `!=`, and a lone string.
fn test(p: &mut ExecProcess) -> i32 {
    let args = p.args().to_vec();
    let truth = match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        [] => false,
        ["-e", path] => p.fs.exists(path),
        ["-f", path] => p.fs.read(path).is_some(),
        ["-d", path] => p.fs.is_dir(path),
        ["-s", path] => p.fs.read(path).is_some_and(|d| !d.is_empty()),
        ["-n", s] => !s.is_empty(),
        ["-z", s] => s.is_empty(),
        [a, "=", b] => a == b,
        [a, "!=", b] => a != b,
        [s] => !s.is_empty(),
        _ => {
            p.eprintln(format!(
                "test: expression not supported by kubesim: {}",
                args.join(" ")
            ));
            return 2;
        }
    };
    if truth { 0 } else { 1 }
}
