//! `customPackages`: a comma-separated list of PEP 508 requirement strings such as
//! `langchain>=0.1.0, openai[datalib]==1.2.3; python_version >= "3.9"`.
//!
//! Each requirement is checked against the PEP 508 grammar (name, optional extras, optional
//! version specifiers, optional environment marker after `;`). Direct URL requirements and pip
//! options are refused, and so is anything carrying shell metacharacters, so that every accepted
//! item is safe to hand to `pip install` as one argv element.

use thiserror::Error;

use super::limits::{MAX_CUSTOM_PACKAGES_LEN, MAX_MARKER_NESTING, check_len, quote};

/// Schema pattern refusing the shell metacharacters that can never appear in an accepted list.
pub const CUSTOM_PACKAGES_PATTERN: &str = r"^[^|&$`\\]*$";

/// Version comparison operators, longest first so that prefixes do not shadow them.
const OPERATORS: [&str; 8] = ["===", "==", "!=", "<=", ">=", "~=", "<", ">"];

/// Environment marker variables defined by PEP 508.
const MARKER_VARIABLES: [&str; 12] = [
    "python_version",
    "python_full_version",
    "os_name",
    "sys_platform",
    "platform_release",
    "platform_system",
    "platform_version",
    "platform_machine",
    "platform_python_implementation",
    "implementation_name",
    "implementation_version",
    "extra",
];

/// A parsed PEP 508 requirement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Requirement {
    /// Distribution name as written.
    pub name: String,
    /// Extras inside `[...]`.
    pub extras: Vec<String>,
    /// Version specifiers as `(operator, version)` pairs.
    pub specifiers: Vec<(String, String)>,
    /// Environment marker after `;`, trimmed.
    pub marker: Option<String>,
}

/// Why a requirement string was refused.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum RequirementError {
    /// Nothing was given.
    #[error("is empty")]
    Empty,
    /// A character a shell would interpret (or a control character).
    #[error("contains the shell metacharacter {0:?}")]
    ShellMetacharacter(char),
    /// A quote outside an environment marker.
    #[error("contains a quote outside an environment marker")]
    Quote,
    /// The requirement is longer than a whole `customPackages` list may be.
    #[error("is {0} characters long; at most {MAX_CUSTOM_PACKAGES_LEN} are allowed")]
    TooLong(usize),
    /// A non-ASCII character.
    #[error("contains the non-ASCII character {0:?}")]
    NonAscii(char),
    /// The item does not start with a valid distribution name.
    #[error(
        "must start with a package name (letters, digits, '.', '_' and '-', beginning and ending with a letter or digit); pip options and paths are not accepted"
    )]
    Name,
    /// `[extras]` is malformed.
    #[error("has malformed extras: {0}")]
    Extras(String),
    /// `name @ url` was given.
    #[error("is a direct URL requirement (name @ url), which is not accepted")]
    DirectUrl,
    /// A version specifier is malformed.
    #[error("has an invalid version specifier: {0}")]
    Specifier(String),
    /// Text follows the requirement that belongs to no part of it.
    #[error("has unexpected text '{0}'")]
    Unexpected(String),
    /// `;` with nothing after it.
    #[error("has ';' but no environment marker after it")]
    EmptyMarker,
    /// The text after `;` is not an environment marker.
    #[error(
        "has text after ';' that is not an environment marker such as python_version >= \"3.9\": {0}"
    )]
    Marker(String),
}

/// Splits `customPackages` into requirement strings, each trimmed and checked. Empty items (for
/// example after a trailing comma) are skipped. The error names the first bad item, or the
/// length limit ([`MAX_CUSTOM_PACKAGES_LEN`]) when the list is longer.
pub fn parse_custom_packages(list: &str) -> Result<Vec<String>, String> {
    check_items(list).into_iter().collect()
}

/// Every problem in `customPackages`, one message per bad item (or only the length limit's, when
/// the list is too long to be looked at).
pub fn custom_package_errors(list: &str) -> Vec<String> {
    check_items(list)
        .into_iter()
        .filter_map(Result::err)
        .collect()
}

fn check_items(list: &str) -> Vec<Result<String, String>> {
    if let Err(message) = check_len("customPackages", list, MAX_CUSTOM_PACKAGES_LEN) {
        return vec![Err(message)];
    }
    split_items(list)
        .into_iter()
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(|item| {
            parse_requirement(item)
                .map(|_| item.to_string())
                .map_err(|e| format!("customPackages item {} {e}", quote(item)))
        })
        .collect()
}

/// Splits at commas that separate requirements: not inside `[...]` or `(...)`, not inside a
/// quoted marker string, and not followed by another version specifier (`a>=1,<2`).
fn split_items(list: &str) -> Vec<&str> {
    let mut items = Vec::new();
    let mut start = 0;
    let mut depth = 0usize;
    let mut in_marker = false;
    let mut quote: Option<char> = None;
    for (index, c) in list.char_indices() {
        if let Some(q) = quote {
            if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '[' | '(' => depth += 1,
            ']' | ')' => depth = depth.saturating_sub(1),
            ';' if depth == 0 => in_marker = true,
            '"' | '\'' if in_marker => quote = Some(c),
            ',' if depth == 0 => {
                let continues_specifiers = !in_marker
                    && list[index + 1..]
                        .trim_start()
                        .starts_with(['<', '>', '=', '!', '~']);
                if !continues_specifiers {
                    items.push(&list[start..index]);
                    start = index + 1;
                    in_marker = false;
                }
            }
            _ => {}
        }
    }
    items.push(&list[start..]);
    items
}

/// Parses one PEP 508 requirement string (without URL form).
pub fn parse_requirement(item: &str) -> Result<Requirement, RequirementError> {
    let item = item.trim();
    if item.is_empty() {
        return Err(RequirementError::Empty);
    }
    if item.len() > MAX_CUSTOM_PACKAGES_LEN {
        return Err(RequirementError::TooLong(item.chars().count()));
    }
    if let Some(c) = item.chars().find(|c| !c.is_ascii()) {
        return Err(RequirementError::NonAscii(c));
    }
    if let Some(c) = item
        .chars()
        .find(|c| matches!(c, '|' | '&' | '$' | '`' | '\\') || (c.is_control() && *c != '\t'))
    {
        return Err(RequirementError::ShellMetacharacter(c));
    }
    let (head, marker) = match item.split_once(';') {
        Some((head, marker)) => (head, Some(marker.trim())),
        None => (item, None),
    };
    if head.contains(['"', '\'']) {
        return Err(RequirementError::Quote);
    }
    let mut requirement = parse_head(head)?;
    if let Some(marker) = marker {
        if marker.is_empty() {
            return Err(RequirementError::EmptyMarker);
        }
        check_marker(marker).map_err(RequirementError::Marker)?;
        requirement.marker = Some(marker.to_string());
    }
    Ok(requirement)
}

/// A position in an ASCII string.
struct Cursor<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn new(text: &'a str) -> Self {
        Self { text, pos: 0 }
    }

    fn rest(&self) -> &'a str {
        &self.text[self.pos..]
    }

    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
    }

    fn eat(&mut self, prefix: &str) -> bool {
        if self.rest().starts_with(prefix) {
            self.pos += prefix.len();
            true
        } else {
            false
        }
    }

    fn take_while(&mut self, keep: impl Fn(u8) -> bool) -> &'a str {
        let start = self.pos;
        while self.peek().is_some_and(&keep) {
            self.pos += 1;
        }
        &self.text[start..self.pos]
    }
}

fn is_name_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')
}

fn is_version_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'*' | b'+' | b'!')
}

/// A PEP 508 identifier: name characters, starting and ending with a letter or digit.
fn is_identifier(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.first().is_some_and(u8::is_ascii_alphanumeric)
        && bytes.last().is_some_and(u8::is_ascii_alphanumeric)
        && bytes.iter().all(|b| is_name_char(*b))
}

/// `name [extras] [specifiers]`, the part before any `;`.
fn parse_head(head: &str) -> Result<Requirement, RequirementError> {
    let mut cursor = Cursor::new(head);
    cursor.skip_ws();
    let name = cursor.take_while(is_name_char);
    if !is_identifier(name) {
        return Err(RequirementError::Name);
    }
    cursor.skip_ws();
    let extras = if cursor.eat("[") {
        parse_extras(&mut cursor)?
    } else {
        Vec::new()
    };
    cursor.skip_ws();
    let specifiers = match cursor.peek() {
        Some(b'@') => return Err(RequirementError::DirectUrl),
        Some(b'(') => {
            cursor.pos += 1;
            let specifiers = parse_specifiers(&mut cursor)?;
            cursor.skip_ws();
            if !cursor.eat(")") {
                return Err(RequirementError::Specifier(
                    "'(' is not closed by ')'".to_string(),
                ));
            }
            specifiers
        }
        Some(b'<' | b'>' | b'=' | b'!' | b'~') => parse_specifiers(&mut cursor)?,
        _ => Vec::new(),
    };
    cursor.skip_ws();
    if !cursor.rest().is_empty() {
        return Err(RequirementError::Unexpected(cursor.rest().to_string()));
    }
    Ok(Requirement {
        name: name.to_string(),
        extras,
        specifiers,
        marker: None,
    })
}

/// The extras after `[`, up to and including `]`.
fn parse_extras(cursor: &mut Cursor<'_>) -> Result<Vec<String>, RequirementError> {
    let mut extras = Vec::new();
    loop {
        cursor.skip_ws();
        if extras.is_empty() && cursor.eat("]") {
            return Ok(extras);
        }
        let extra = cursor.take_while(is_name_char);
        if !is_identifier(extra) {
            return Err(RequirementError::Extras(format!(
                "expected an extra name at '{}'",
                cursor.rest()
            )));
        }
        extras.push(extra.to_string());
        cursor.skip_ws();
        if cursor.eat("]") {
            return Ok(extras);
        }
        if !cursor.eat(",") {
            return Err(RequirementError::Extras(
                "expected ',' or ']' after an extra".to_string(),
            ));
        }
    }
}

/// One or more `operator version` pairs separated by commas.
fn parse_specifiers(cursor: &mut Cursor<'_>) -> Result<Vec<(String, String)>, RequirementError> {
    let mut specifiers = Vec::new();
    loop {
        cursor.skip_ws();
        let Some(operator) = OPERATORS.into_iter().find(|op| cursor.eat(op)) else {
            return Err(RequirementError::Specifier(format!(
                "expected one of == != <= >= < > ~= === at '{}'",
                cursor.rest()
            )));
        };
        cursor.skip_ws();
        let version = cursor.take_while(is_version_char);
        if version.is_empty() {
            let found = match cursor.rest() {
                "" => "nothing".to_string(),
                rest => format!("'{rest}'"),
            };
            return Err(RequirementError::Specifier(format!(
                "'{operator}' must be followed by a version, found {found}"
            )));
        }
        specifiers.push((operator.to_string(), version.to_string()));
        cursor.skip_ws();
        if !cursor.eat(",") {
            return Ok(specifiers);
        }
    }
}

/// A token of an environment marker.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Token {
    Open,
    Close,
    Str,
    Word(String),
    Op,
    Bad(char),
}

fn tokenize(marker: &str) -> Result<Vec<Token>, String> {
    let mut cursor = Cursor::new(marker);
    let mut tokens = Vec::new();
    loop {
        cursor.skip_ws();
        let Some(b) = cursor.peek() else {
            return Ok(tokens);
        };
        let token = match b {
            b'(' => {
                cursor.pos += 1;
                Token::Open
            }
            b')' => {
                cursor.pos += 1;
                Token::Close
            }
            b'"' | b'\'' => {
                cursor.pos += 1;
                cursor.take_while(|c| c != b);
                if !cursor.eat(if b == b'"' { "\"" } else { "'" }) {
                    return Err("a quoted string is not closed".to_string());
                }
                Token::Str
            }
            _ if b.is_ascii_alphabetic() || b == b'_' => {
                let word = cursor.take_while(|c| c.is_ascii_alphanumeric() || c == b'_');
                Token::Word(word.to_string())
            }
            _ => match OPERATORS.into_iter().find(|op| cursor.eat(op)) {
                Some(_) => Token::Op,
                None => {
                    cursor.pos += 1;
                    Token::Bad(char::from(b))
                }
            },
        };
        tokens.push(token);
    }
}

/// Checks an environment marker against the PEP 508 grammar. Parentheses may nest at most
/// [`MAX_MARKER_NESTING`] deep, which bounds the parser's recursion.
fn check_marker(marker: &str) -> Result<(), String> {
    let tokens = tokenize(marker)?;
    let mut parser = MarkerParser {
        tokens,
        pos: 0,
        depth: 0,
    };
    parser.or_expr()?;
    match parser.tokens.get(parser.pos) {
        None => Ok(()),
        Some(token) => Err(format!("unexpected {}", describe(token))),
    }
}

fn describe(token: &Token) -> String {
    match token {
        Token::Open => "'('".to_string(),
        Token::Close => "')'".to_string(),
        Token::Str => "quoted string".to_string(),
        Token::Word(word) => format!("'{word}'"),
        Token::Op => "comparison operator".to_string(),
        Token::Bad(c) => format!("character {c:?}"),
    }
}

/// Recursive-descent parser over marker tokens; `depth` counts the open parentheses, so the
/// recursion never goes deeper than [`MAX_MARKER_NESTING`] groups.
struct MarkerParser {
    tokens: Vec<Token>,
    pos: usize,
    depth: usize,
}

impl MarkerParser {
    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        token
    }

    fn next_is_word(&self, word: &str) -> bool {
        matches!(self.tokens.get(self.pos), Some(Token::Word(w)) if w == word)
    }

    fn or_expr(&mut self) -> Result<(), String> {
        self.and_expr()?;
        while self.next_is_word("or") {
            self.pos += 1;
            self.and_expr()?;
        }
        Ok(())
    }

    fn and_expr(&mut self) -> Result<(), String> {
        self.expr()?;
        while self.next_is_word("and") {
            self.pos += 1;
            self.expr()?;
        }
        Ok(())
    }

    fn expr(&mut self) -> Result<(), String> {
        if self.tokens.get(self.pos) == Some(&Token::Open) {
            if self.depth == MAX_MARKER_NESTING {
                return Err(format!(
                    "parentheses nest more than {MAX_MARKER_NESTING} deep"
                ));
            }
            self.pos += 1;
            self.depth += 1;
            self.or_expr()?;
            self.depth -= 1;
            return match self.next() {
                Some(Token::Close) => Ok(()),
                _ => Err("'(' is not closed by ')'".to_string()),
            };
        }
        self.variable()?;
        self.operator()?;
        self.variable()
    }

    fn variable(&mut self) -> Result<(), String> {
        match self.next() {
            Some(Token::Str) => Ok(()),
            Some(Token::Word(word)) if MARKER_VARIABLES.contains(&word.as_str()) => Ok(()),
            Some(Token::Word(word)) => Err(format!(
                "unknown marker variable '{word}' (expected a name such as python_version, sys_platform or extra, or a quoted string)"
            )),
            Some(token) => Err(format!(
                "expected a marker variable or quoted string, found {}",
                describe(&token)
            )),
            None => Err("the marker ends where a value was expected".to_string()),
        }
    }

    fn operator(&mut self) -> Result<(), String> {
        match self.next() {
            Some(Token::Op) => Ok(()),
            Some(Token::Word(word)) if word == "in" => Ok(()),
            Some(Token::Word(word)) if word == "not" && self.next_is_word("in") => {
                self.pos += 1;
                Ok(())
            }
            Some(token) => Err(format!(
                "expected a comparison (== != <= >= < > ~= === in, not in), found {}",
                describe(&token)
            )),
            None => Err("the marker ends where a comparison was expected".to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_pep_508_requirements() {
        let accepted = [
            "langchain",
            "langchain>=0.1.0",
            "openai[datalib]==1.2.3; python_version>=\"3.9\"",
            "requests >= 2.8.1, == 2.8.*",
            "requests (>=2.8.1,<3)",
            "name[quux, strange];python_version<'2.7' and platform_version=='2'",
            "pkg ; sys_platform == 'win32' or (os_name != 'nt' and extra == 'test')",
            "pkg; 'linux' in sys_platform",
            "pkg; sys_platform not in 'win32 cygwin'",
            "zope.interface~=5.0",
            "foo===1.0+local",
            "foo!=1!2.0.post1",
            "A",
            "a_b-c.d<1",
            "x[]",
        ];
        for item in accepted {
            assert!(
                parse_requirement(item).is_ok(),
                "{item}: {:?}",
                parse_requirement(item)
            );
        }
    }

    #[test]
    fn parts_are_reported() {
        let r = parse_requirement("openai[datalib, x]==1.2.3 ; python_version>=\"3.9\"").unwrap();
        assert_eq!(r.name, "openai");
        assert_eq!(r.extras, ["datalib", "x"]);
        assert_eq!(r.specifiers, [("==".to_string(), "1.2.3".to_string())]);
        assert_eq!(r.marker.as_deref(), Some("python_version>=\"3.9\""));

        let r = parse_requirement("requests>=2,<3").unwrap();
        assert_eq!(
            r.specifiers,
            [
                (">=".to_string(), "2".to_string()),
                ("<".to_string(), "3".to_string())
            ]
        );
    }

    #[test]
    fn refuses_with_the_reason() {
        use RequirementError::*;
        let cases: &[(&str, RequirementError)] = &[
            ("foo|bar", ShellMetacharacter('|')),
            ("$(id)", ShellMetacharacter('$')),
            ("`id`", ShellMetacharacter('`')),
            ("foo && curl x", ShellMetacharacter('&')),
            ("foo\nbar", ShellMetacharacter('\n')),
            ("foo\\bar", ShellMetacharacter('\\')),
            ("foo\"bar", Quote),
            ("'foo'", Quote),
            ("pâckage", NonAscii('â')),
            ("-e .", Name),
            ("--index-url=http://evil", Name),
            ("./local/path", Name),
            ("foo-", Name),
            ("foo @ https://example.com/foo.whl", DirectUrl),
            (
                "foo[bar",
                Extras("expected ',' or ']' after an extra".into()),
            ),
            ("foo[,]", Extras("expected an extra name at ',]'".into())),
            (
                "foo > /tmp/x",
                Specifier("'>' must be followed by a version, found '/tmp/x'".into()),
            ),
            (
                "foo>=",
                Specifier("'>=' must be followed by a version, found nothing".into()),
            ),
            (
                "foo >> log",
                Specifier("'>' must be followed by a version, found '> log'".into()),
            ),
            ("foo (>=1", Specifier("'(' is not closed by ')'".into())),
            (
                "foo=1.0",
                Specifier("expected one of == != <= >= < > ~= === at '=1.0'".into()),
            ),
            ("foo bar", Unexpected("bar".into())),
            ("foo>=1.0 /tmp/x", Unexpected("/tmp/x".into())),
            ("foo # comment", Unexpected("# comment".into())),
            ("foo;", EmptyMarker),
        ];
        for (item, expected) in cases {
            assert_eq!(parse_requirement(item), Err(expected.clone()), "{item:?}");
        }
    }

    #[test]
    fn refuses_bad_markers() {
        let cases = [
            ("requests; rm -rf /", "unknown marker variable 'rm'"),
            (
                "requests; python_version",
                "the marker ends where a comparison was expected",
            ),
            (
                "requests; python_version >= '3",
                "a quoted string is not closed",
            ),
            (
                "requests; python_version >= '3.9' and",
                "the marker ends where a value was expected",
            ),
            (
                "requests; (python_version >= '3.9'",
                "'(' is not closed by ')'",
            ),
            (
                "requests; python_version >= '3.9' ; ls",
                "unexpected character ';'",
            ),
            ("requests; python_version is '3.9'", "expected a comparison"),
            (
                "requests; python_version >= '3.9' '3.9'",
                "unexpected quoted string",
            ),
        ];
        for (item, expected) in cases {
            match parse_requirement(item) {
                Err(RequirementError::Marker(message)) => {
                    assert!(message.contains(expected), "{item:?}: {message}")
                }
                other => panic!("{item:?}: expected a marker error, got {other:?}"),
            }
        }
    }

    #[test]
    fn lists_are_split_between_requirements_only() {
        let cases: &[(&str, &[&str])] = &[
            ("", &[]),
            ("  ", &[]),
            ("langchain>=0.1.0", &["langchain>=0.1.0"]),
            ("a, b ,c,", &["a", "b", "c"]),
            ("requests>=2,<3, openai", &["requests>=2,<3", "openai"]),
            (
                "requests >= 2 , != 2.1, openai",
                &["requests >= 2 , != 2.1", "openai"],
            ),
            ("name[a,b]>=1,other", &["name[a,b]>=1", "other"]),
            ("x (>=1, <2), y", &["x (>=1, <2)", "y"]),
            (
                "openai; python_version >= '3.9, 3.10', langchain",
                &["openai; python_version >= '3.9, 3.10'", "langchain"],
            ),
            ("a; extra == 'x', >=1", &["a; extra == 'x'", ">=1"]),
            ("a,\n  b", &["a", "b"]),
        ];
        for (list, expected) in cases {
            let items: Vec<&str> = split_items(list)
                .into_iter()
                .map(str::trim)
                .filter(|i| !i.is_empty())
                .collect();
            assert_eq!(&items, expected, "{list:?}");
        }
    }

    #[test]
    fn custom_packages_are_returned_trimmed() {
        assert_eq!(
            parse_custom_packages(
                " langchain>=0.1.0 , openai[datalib]==1.2.3; python_version>=\"3.9\",chromadb "
            )
            .unwrap(),
            [
                "langchain>=0.1.0",
                "openai[datalib]==1.2.3; python_version>=\"3.9\"",
                "chromadb"
            ]
        );
        assert_eq!(parse_custom_packages("").unwrap(), Vec::<String>::new());
    }

    #[test]
    fn custom_package_errors_name_every_bad_item() {
        let errors = custom_package_errors("ok, requests; rm -rf /, foo|bar");
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(
            errors[0].starts_with("customPackages item \"requests; rm -rf /\" has text after ';'")
        );
        assert_eq!(
            errors[1],
            "customPackages item \"foo|bar\" contains the shell metacharacter '|'"
        );
        assert_eq!(
            parse_custom_packages("good, $(id)").unwrap_err(),
            "customPackages item \"$(id)\" contains the shell metacharacter '$'"
        );
    }

    #[test]
    fn schema_pattern_refuses_metacharacters() {
        let pattern = regex::Regex::new(CUSTOM_PACKAGES_PATTERN).unwrap();
        assert!(
            pattern.is_match("langchain>=0.1.0, openai[datalib]==1.2.3; python_version>=\"3.9\"")
        );
        for bad in ["foo|bar", "$(id)", "`id`", "a && b", "a\\b"] {
            assert!(!pattern.is_match(bad), "{bad}");
        }
    }

    fn nested(depth: usize) -> String {
        format!(
            "x; {}python_version > \"3\"{}",
            "(".repeat(depth),
            ")".repeat(depth)
        )
    }

    #[test]
    fn markers_nest_up_to_the_limit() {
        assert!(parse_requirement(&nested(MAX_MARKER_NESTING)).is_ok());
        assert_eq!(
            parse_requirement(&nested(MAX_MARKER_NESTING + 1)),
            Err(RequirementError::Marker(
                "parentheses nest more than 32 deep".into()
            ))
        );
    }

    #[test]
    fn a_deep_marker_is_an_error_not_a_stack_overflow() {
        // Far deeper than any stack allows for one frame per level; a small thread stack makes a
        // regression fail here rather than only on a runtime worker.
        // The marker parser alone, past the length limit that guards it in a requirement.
        let deep = nested(200_000);
        let marker = deep.trim_start_matches("x; ").to_string();
        let outcome = std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(move || check_marker(&marker))
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(
            outcome,
            Err("parentheses nest more than 32 deep".to_string())
        );
        assert!(matches!(
            parse_requirement(&deep),
            Err(RequirementError::TooLong(400_023))
        ));
        let outcome = std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(|| custom_package_errors(&nested(8_000)))
            .unwrap()
            .join()
            .unwrap();
        assert_eq!(outcome.len(), 1, "{outcome:?}");
        assert!(
            outcome[0].ends_with("has text after ';' that is not an environment marker such as python_version >= \"3.9\": parentheses nest more than 32 deep"),
            "{}",
            outcome[0]
        );
        assert!(
            outcome[0].len() < 300,
            "the bad item is quoted in part: {}",
            outcome[0]
        );
    }

    #[test]
    fn lists_over_the_length_limit_are_one_error() {
        let list = "a,".repeat(MAX_CUSTOM_PACKAGES_LEN / 2 + 1);
        assert_eq!(
            custom_package_errors(&list),
            [format!(
                "customPackages is {} characters long; at most 16384 are allowed",
                list.len()
            )]
        );
        assert!(parse_custom_packages(&list).is_err());
        let fits = "a,".repeat(MAX_CUSTOM_PACKAGES_LEN / 2);
        assert_eq!(
            parse_custom_packages(&fits).unwrap().len(),
            MAX_CUSTOM_PACKAGES_LEN / 2
        );
        assert_eq!(
            parse_requirement(&"a".repeat(MAX_CUSTOM_PACKAGES_LEN + 1)),
            Err(RequirementError::TooLong(MAX_CUSTOM_PACKAGES_LEN + 1))
        );
    }
}
