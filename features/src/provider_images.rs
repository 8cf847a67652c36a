//! The simulator's catalogue entries for the provider images
//! (`ghcr.io/openlit/<provider>-ai-instrumentation`), derived from `operator/providers`: the files
//! each image holds, its environment and entrypoint come from the provider's folder and
//! Dockerfile, and its program does what `setup-instrumentation.py` does. A change to a provider
//! folder changes the simulated image with it, so the simulated flow and the real images cannot
//! drift apart.
//!
//! What the simulated program does, like the real one: refuses a non-empty target it did not
//! fill; copies `sitecustomize.py` and `_instrumentation_bootstrap.py`, then the packages (one
//! `<name>-<version>.dist-info/METADATA` per pinned line of the provider's lock stands for each
//! package); checks every `--package` with the operator's PEP 508 parser and "installs" it (a
//! `.dist-info` naming the requirement) unless the catalogue marks it unavailable on the index;
//! records the CPython version; and on failure prints the same messages, exits 1 for
//! `--on-failure block`, or leaves `.instrumentation-failed` and exits 0 for `continue`.
//! Simulated volumes cannot delete files, so the program decides every failure before it copies
//! any package: the volume ends as the real program leaves it.

use std::collections::BTreeSet;

use kubesim::{Exit, Image, Process};
use openlit_operator::crd::requirements::parse_requirement;
use thiserror::Error;

/// Providers with an image (the operator selects all but `base`, which is a parent for custom images).
pub const PROVIDERS: [&str; 4] = ["base", "openlit", "openinference", "openllmetry"];
/// Where the setup program lives in every image.
pub const SETUP_PROGRAM: &str = "/usr/local/bin/setup-instrumentation.py";
/// Marker left in the volume when setup failed under `--on-failure continue`.
pub const FAILURE_MARKER: &str = ".instrumentation-failed";
/// File recording the CPython version the delivered packages were built for.
pub const PYTHON_VERSION_FILE: &str = ".instrumentation-python";

const SETUP_SOURCE: &str = include_str!("../../operator/providers/base/setup-instrumentation.py");
const BOOTSTRAP_SOURCE: &str =
    include_str!("../../operator/providers/base/_instrumentation_bootstrap.py");
const PYTHON_VERSIONS: &str = include_str!("../../operator/providers/python-versions.txt");

/// The files of one provider folder.
struct ProviderFiles {
    dockerfile: &'static str,
    sitecustomize: &'static str,
    lock: &'static str,
}

fn provider_files(provider: &str) -> Option<ProviderFiles> {
    macro_rules! folder {
        ($name:literal) => {
            ProviderFiles {
                dockerfile: include_str!(concat!(
                    "../../operator/providers/",
                    $name,
                    "/Dockerfile"
                )),
                sitecustomize: include_str!(concat!(
                    "../../operator/providers/",
                    $name,
                    "/sitecustomize.py"
                )),
                lock: include_str!(concat!(
                    "../../operator/providers/",
                    $name,
                    "/requirements.txt"
                )),
            }
        };
    }
    Some(match provider {
        "base" => folder!("base"),
        "openlit" => folder!("openlit"),
        "openinference" => folder!("openinference"),
        "openllmetry" => folder!("openllmetry"),
        _ => return None,
    })
}

/// Why a catalogue entry could not be derived from the provider folders.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum CatalogueError {
    /// The provider has no folder in `operator/providers`.
    #[error("no provider folder named {0} in operator/providers")]
    UnknownProvider(String),
    /// The Dockerfile lacks an instruction the image needs.
    #[error("the {provider} Dockerfile has no {what}")]
    Dockerfile {
        /// The provider.
        provider: String,
        /// What is missing.
        what: &'static str,
    },
    /// `python-versions.txt` names no default version.
    #[error("operator/providers/python-versions.txt names no default CPython version")]
    NoDefaultPython,
}

/// The simulated package index seen by the setup program when it installs custom packages.
#[derive(Clone, Debug, Default)]
pub struct Catalogue {
    unavailable: BTreeSet<String>,
}

impl Catalogue {
    /// A catalogue whose index has every package.
    pub fn new() -> Self {
        Catalogue::default()
    }

    /// Makes `name` missing from the simulated index: pip fails to install it.
    pub fn without_package(mut self, name: &str) -> Self {
        self.unavailable.insert(normalize(name));
        self
    }

    /// One image per provider, named `<prefix>/<provider>-ai-instrumentation` without a tag (the
    /// simulator then runs it for every tag), built for the default CPython version.
    pub fn images(&self, prefix: &str) -> Result<Vec<Image>, CatalogueError> {
        let python = default_python()?;
        PROVIDERS
            .iter()
            .map(|provider| {
                self.image(
                    provider,
                    &format!("{prefix}/{provider}-ai-instrumentation"),
                    &python,
                )
            })
            .collect()
    }

    /// The image of `provider` under the reference `name`, built for CPython `python` (`3.12`).
    pub fn image(&self, provider: &str, name: &str, python: &str) -> Result<Image, CatalogueError> {
        let files = provider_files(provider)
            .ok_or_else(|| CatalogueError::UnknownProvider(provider.to_string()))?;
        let dockerfile = Dockerfile::parse(provider, files.dockerfile)?;
        let source =
            dockerfile
                .env("INSTRUMENTATION_SOURCE")
                .ok_or_else(|| CatalogueError::Dockerfile {
                    provider: provider.to_string(),
                    what: "ENV INSTRUMENTATION_SOURCE",
                })?;
        let mut image = Image::new(name)
            .file(SETUP_PROGRAM, SETUP_SOURCE)
            .file(format!("{source}/sitecustomize.py"), files.sitecustomize)
            .file(
                format!("{source}/_instrumentation_bootstrap.py"),
                BOOTSTRAP_SOURCE,
            )
            .file(format!("{source}/requirements.txt"), files.lock);
        for (package, version) in locked_packages(files.lock) {
            image = image.file(
                format!("{source}/site-packages/{package}-{version}.dist-info/METADATA"),
                format!("Metadata-Version: 2.1\nName: {package}\nVersion: {version}\n"),
            );
        }
        for (key, value) in &dockerfile.env {
            image = image.env(key, value);
        }
        let entrypoint: Vec<&str> = dockerfile.entrypoint.iter().map(String::as_str).collect();
        let setup = SimulatedSetup {
            unavailable: self.unavailable.clone(),
            python: python.to_string(),
        };
        Ok(image
            .entrypoint(&entrypoint)
            .program(move |process| setup.run(process)))
    }
}

/// The catalogue entries of every provider image with a complete index (see [`Catalogue`]).
pub fn provider_images(prefix: &str) -> Result<Vec<Image>, CatalogueError> {
    Catalogue::new().images(prefix)
}

/// The default CPython version of the images (`python-versions.txt`).
pub fn default_python() -> Result<String, CatalogueError> {
    PYTHON_VERSIONS
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .find_map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            (words.get(2) == Some(&"default")).then(|| words[0].to_string())
        })
        .ok_or(CatalogueError::NoDefaultPython)
}

/// `(name, version)` for every `name==version` line of a lock.
fn locked_packages(lock: &str) -> Vec<(String, String)> {
    lock.lines()
        .filter(|line| !line.starts_with([' ', '#']))
        .filter_map(|line| {
            let requirement = line.split(';').next()?.trim();
            let (name, version) = requirement.split_once("==")?;
            Some((normalize(name), version.trim().to_string()))
        })
        .collect()
}

/// PEP 503 name normalisation, as in `.dist-info` folder names (`_` separators).
fn normalize(name: &str) -> String {
    let mut out = String::new();
    for c in name.trim().chars() {
        if matches!(c, '-' | '_' | '.') {
            if !out.ends_with('_') {
                out.push('_');
            }
        } else {
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

/// The instructions of a provider Dockerfile the simulator needs.
struct Dockerfile {
    env: Vec<(String, String)>,
    entrypoint: Vec<String>,
}

impl Dockerfile {
    fn parse(provider: &str, text: &str) -> Result<Dockerfile, CatalogueError> {
        // Join continuation lines, then read the final stage's ENV and ENTRYPOINT.
        let joined = text.replace("\\\n", " ");
        let mut env = Vec::new();
        let mut entrypoint = None;
        for line in joined.lines().map(str::trim) {
            if line.starts_with("FROM ") {
                env.clear();
                entrypoint = None;
            } else if let Some(rest) = line.strip_prefix("ENV ") {
                for pair in rest.split_whitespace() {
                    if let Some((key, value)) = pair.split_once('=') {
                        env.push((key.to_string(), value.trim_matches('"').to_string()));
                    }
                }
            } else if let Some(rest) = line.strip_prefix("ENTRYPOINT ") {
                entrypoint = serde_json::from_str::<Vec<String>>(rest).ok();
            }
        }
        let entrypoint = entrypoint.ok_or_else(|| CatalogueError::Dockerfile {
            provider: provider.to_string(),
            what: "ENTRYPOINT in exec form",
        })?;
        Ok(Dockerfile { env, entrypoint })
    }

    fn env(&self, key: &str) -> Option<&str> {
        self.env
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// The setup program as the simulator runs it.
#[derive(Clone)]
struct SimulatedSetup {
    unavailable: BTreeSet<String>,
    python: String,
}

/// Arguments of one run.
struct Arguments {
    target: String,
    on_failure: String,
    packages: Vec<String>,
    source: Option<String>,
    provider: Option<String>,
}

impl SimulatedSetup {
    fn run(&self, process: &mut Process) -> Exit {
        let words: Vec<String> = process
            .command
            .iter()
            .chain(process.args.iter())
            .cloned()
            .collect();
        if words.get(1).map(String::as_str) != Some(SETUP_PROGRAM) {
            process.println(format!(
                "exec: the image runs only {SETUP_PROGRAM}, not {}",
                words.join(" ")
            ));
            return Exit::Code(127);
        }
        let arguments = match parse_arguments(&words[2..], process) {
            Ok(arguments) => arguments,
            Err(message) => {
                process.println(format!("setup-instrumentation.py: error: {message}"));
                return Exit::Code(2);
            }
        };
        match self.setup(&arguments, process) {
            Ok(()) => Exit::Code(0),
            Err(reason) => fail(&arguments, &reason, process),
        }
    }

    fn setup(&self, arguments: &Arguments, process: &mut Process) -> Result<(), String> {
        let target = arguments.target.trim_end_matches('/');
        let existing = process.fs.list(target);
        let ours = ["sitecustomize.py", FAILURE_MARKER, PYTHON_VERSION_FILE];
        if !existing.is_empty()
            && !ours
                .iter()
                .any(|name| existing.contains(&format!("{target}/{name}")))
        {
            return Err(format!(
                "the target {target} is not empty and holds no earlier instrumentation; refusing to delete what it contains (it should be the instrumentation-packages volume)"
            ));
        }
        let (folder, provider) = find_source(arguments, process)?;
        for name in ["sitecustomize.py", "_instrumentation_bootstrap.py"] {
            if let Some(data) = process.fs.read(&format!("{folder}/{name}")) {
                process
                    .fs
                    .write(&format!("{target}/{name}"), data)
                    .map_err(|e| format!("copying sitecustomize.py into {target} failed: {e}"))?;
            }
        }
        let mut requirements = Vec::new();
        for item in &arguments.packages {
            let requirement = parse_requirement(item).map_err(|e| {
                format!("custom package \"{item}\" is not a valid PEP 508 requirement: it {e}")
            })?;
            requirements.push((item.trim().to_string(), requirement.name));
        }
        if let Some((_, missing)) = requirements
            .iter()
            .find(|(_, name)| self.unavailable.contains(&normalize(name)))
        {
            let all: Vec<&str> = requirements.iter().map(|(r, _)| r.as_str()).collect();
            return Err(format!(
                "pip could not install {} (exit code 1):\nERROR: Could not find a version that satisfies the requirement {missing}",
                all.join(", ")
            ));
        }
        let copied = process
            .fs
            .copy_dir(&format!("{folder}/site-packages"), target)
            .map_err(|e| {
                format!("copying the {provider} instrumentation into {target} failed: {e}")
            })?;
        process.println(format!(
            "setup-instrumentation: copied the {provider} instrumentation ({copied} entries) into {target}"
        ));
        if !requirements.is_empty() {
            let all: Vec<&str> = requirements.iter().map(|(r, _)| r.as_str()).collect();
            process.println(format!(
                "setup-instrumentation: installing custom packages: {}",
                all.join(", ")
            ));
            for (text, name) in &requirements {
                process
                    .fs
                    .write(
                        &format!("{target}/{}-0.dist-info/REQUESTED", normalize(name)),
                        format!("{text}\n"),
                    )
                    .map_err(|e| format!("moving the custom packages into {target} failed: {e}"))?;
            }
        }
        process
            .fs
            .write(
                &format!("{target}/{PYTHON_VERSION_FILE}"),
                format!("{}\n", self.python),
            )
            .map_err(|e| format!("cannot write {target}/{PYTHON_VERSION_FILE}: {e}"))?;
        process.println(format!(
            "setup-instrumentation: ready: {provider} instrumentation for CPython {}",
            self.python
        ));
        Ok(())
    }
}

fn parse_arguments(words: &[String], process: &Process) -> Result<Arguments, String> {
    let env = |key: &str| process.env.get(key).filter(|v| !v.is_empty()).cloned();
    let mut arguments = Arguments {
        target: env("TARGET_PATH").unwrap_or_else(|| "/instrumentation-packages".into()),
        on_failure: env("INSTRUMENTATION_ON_FAILURE").unwrap_or_else(|| "block".into()),
        packages: Vec::new(),
        source: env("INSTRUMENTATION_SOURCE"),
        provider: env("INSTRUMENTATION_PROVIDER"),
    };
    let mut packages_given = false;
    let mut words = words.iter();
    while let Some(word) = words.next() {
        let (flag, inline) = match word.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => (flag, Some(value.to_string())),
            _ => (word.as_str(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| words.next().cloned())
                .ok_or_else(|| format!("argument {flag}: expected one argument"))
        };
        match flag {
            "--target" => arguments.target = value()?,
            "--on-failure" => {
                let choice = value()?;
                if choice != "continue" && choice != "block" {
                    return Err(format!(
                        "argument --on-failure: invalid choice: '{choice}' (choose from 'continue', 'block')"
                    ));
                }
                arguments.on_failure = choice;
            }
            "--package" => {
                packages_given = true;
                arguments.packages.push(value()?);
            }
            "--source" => arguments.source = Some(value()?),
            "--provider" => arguments.provider = Some(value()?),
            other => return Err(format!("unrecognized arguments: {other}")),
        }
    }
    if !packages_given && let Some(list) = env("CUSTOM_PACKAGES") {
        arguments.packages = openlit_operator::crd::parse_custom_packages(&list)
            .unwrap_or_else(|_| list.split(',').map(|s| s.trim().to_string()).collect());
        arguments.packages.retain(|p| !p.is_empty());
    }
    Ok(arguments)
}

fn find_source(arguments: &Arguments, process: &Process) -> Result<(String, String), String> {
    let mut candidates = Vec::new();
    match &arguments.source {
        Some(source) => candidates.push(source.clone()),
        None => {
            if let Some(provider) = &arguments.provider {
                candidates.push(format!("/opt/instrumentation/{provider}"));
            }
        }
    }
    for folder in &candidates {
        let folder = folder.trim_end_matches('/');
        if process
            .fs
            .read(&format!("{folder}/sitecustomize.py"))
            .is_some()
        {
            let provider = arguments
                .provider
                .clone()
                .unwrap_or_else(|| folder.rsplit('/').next().unwrap_or_default().to_string());
            return Ok((folder.to_string(), provider));
        }
    }
    Err(format!(
        "the image holds no instrumentation: none of {} contains sitecustomize.py (is INSTRUMENTATION_PROVIDER or INSTRUMENTATION_SOURCE right for this image?)",
        if candidates.is_empty() {
            "/opt/instrumentation/<provider>".to_string()
        } else {
            candidates.join(", ")
        }
    ))
}

fn fail(arguments: &Arguments, reason: &str, process: &mut Process) -> Exit {
    process.println(format!(
        "setup-instrumentation: instrumentation setup failed: {reason}"
    ));
    if arguments.on_failure == "continue" {
        process.println(
            "setup-instrumentation: onFailure is continue: the application starts without instrumentation",
        );
        let target = arguments.target.trim_end_matches('/');
        let existing = process.fs.list(target);
        let ours = existing.is_empty()
            || existing.contains(&format!("{target}/sitecustomize.py"))
            || existing.contains(&format!("{target}/{FAILURE_MARKER}"));
        if ours
            && let Err(e) = process
                .fs
                .write(&format!("{target}/{FAILURE_MARKER}"), format!("{reason}\n"))
        {
            process.println(format!(
                "setup-instrumentation: could not leave the failure marker in {target}: {e}"
            ));
        }
        Exit::Code(0)
    } else {
        process.println(
            "setup-instrumentation: onFailure is block: the pod will not start until this is fixed",
        );
        Exit::Code(1)
    }
}
