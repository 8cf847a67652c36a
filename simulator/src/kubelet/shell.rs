//! The small part of `sh` syntax that `exec` understands for `sh -c`: words, single and double
//! quotes, backslash escapes, `$VAR`/`${VAR}` expansion and `#` comments. Pipes, redirections,
//! command lists (`;`, `&&`, `||`), subshells and substitutions are refused, not misread.

use std::collections::BTreeMap;

/// Why a command line could not be split into words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShellError {
    /// A quote was opened and never closed.
    #[error("syntax error: unterminated quoted string")]
    Unterminated,
    /// The line uses syntax kubesim does not implement.
    #[error("syntax not supported by kubesim: {0}")]
    Unsupported(String),
}

/// Words being collected: the current word and whether it exists yet (`""` is a word).
#[derive(Default)]
struct Words {
    done: Vec<String>,
    current: String,
    started: bool,
}

impl Words {
    fn push(&mut self, c: char) {
        self.current.push(c);
        self.started = true;
    }

    fn push_str(&mut self, s: &str) {
        self.current.push_str(s);
        self.started = true;
    }

    fn end(&mut self) {
        if self.started {
            self.done.push(std::mem::take(&mut self.current));
        }
        self.started = false;
    }

    /// An unquoted expansion: split on whitespace into fields.
    fn push_fields(&mut self, value: &str) {
        let mut fields = value.split_whitespace().peekable();
        if value.starts_with(char::is_whitespace) {
            self.end();
        }
        while let Some(f) = fields.next() {
            self.push_str(f);
            if fields.peek().is_some() {
                self.end();
            }
        }
        if value.ends_with(char::is_whitespace) {
            self.end();
        }
    }
}

type Chars<'a> = std::iter::Peekable<std::str::Chars<'a>>;

/// Read a variable reference after `$`: `NAME`, `{NAME}`; `None` for a lone `$`.
fn variable(chars: &mut Chars<'_>) -> Result<Option<String>, ShellError> {
    match chars.peek() {
        Some('(') => Err(ShellError::Unsupported("$(...)".into())),
        Some('{') => {
            chars.next();
            let mut name = String::new();
            for c in chars.by_ref() {
                if c == '}' {
                    return Ok(Some(name));
                }
                name.push(c);
            }
            Err(ShellError::Unterminated)
        }
        Some(c) if c.is_ascii_alphabetic() || *c == '_' => {
            let mut name = String::new();
            while let Some(c) = chars
                .peek()
                .filter(|c| c.is_ascii_alphanumeric() || **c == '_')
            {
                name.push(*c);
                chars.next();
            }
            Ok(Some(name))
        }
        _ => Ok(None),
    }
}

fn lookup(env: &BTreeMap<String, String>, name: &str) -> String {
    env.get(name).cloned().unwrap_or_default()
}

/// Split a command line into words, expanding variables from `env` (unset ones are empty).
pub fn split(line: &str, env: &BTreeMap<String, String>) -> Result<Vec<String>, ShellError> {
    let mut w = Words::default();
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => w.end(),
            '#' if !w.started => break,
            '\\' => match chars.next() {
                Some('\n') | None => {}
                Some(n) => w.push(n),
            },
            '\'' => {
                w.started = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(q) => w.push(q),
                        None => return Err(ShellError::Unterminated),
                    }
                }
            }
            '"' => {
                w.started = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(n @ ('"' | '\\' | '$' | '`')) => w.push(n),
                            Some('\n') => {}
                            Some(n) => {
                                w.push('\\');
                                w.push(n);
                            }
                            None => return Err(ShellError::Unterminated),
                        },
                        Some('$') => match variable(&mut chars)? {
                            Some(name) => w.push_str(&lookup(env, &name)),
                            None => w.push('$'),
                        },
                        Some('`') => return Err(ShellError::Unsupported("`...`".into())),
                        Some(q) => w.push(q),
                        None => return Err(ShellError::Unterminated),
                    }
                }
            }
            '$' => match variable(&mut chars)? {
                Some(name) => w.push_fields(&lookup(env, &name)),
                None => w.push('$'),
            },
            '|' | '&' | ';' | '<' | '>' | '(' | ')' | '`' => {
                return Err(ShellError::Unsupported(c.to_string()));
            }
            c => w.push(c),
        }
    }
    w.end();
    Ok(w.done)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> BTreeMap<String, String> {
        [("A", "x"), ("B", "one two")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn words_quotes_and_expansion() {
        let got = split(
            r#"echo 'a  $A' "b $A ${A}y" c\ d $B $NOPE "" # gone"#,
            &env(),
        )
        .unwrap();
        assert_eq!(got, ["echo", "a  $A", "b x xy", "c d", "one", "two", ""]);
    }

    #[test]
    fn refuses_what_it_does_not_implement() {
        assert_eq!(
            split("cat a | wc", &env()),
            Err(ShellError::Unsupported("|".into()))
        );
        assert_eq!(
            split("echo $(id)", &env()),
            Err(ShellError::Unsupported("$(...)".into()))
        );
        assert_eq!(split("echo 'a", &env()), Err(ShellError::Unterminated));
    }
}
