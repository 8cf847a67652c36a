//! The provider images' build files keep their promises (Docker cannot run here, so the
//! Dockerfiles are checked as text): pinned base image, non-root user, the locked requirements
//! installed with the pinned uv exactly as the Python acceptance test installs them, and the
//! setup program's own PEP 508 check agreeing with the operator's parser word for word.

mod providers_support;

use std::process::{Command, Stdio};

use openlit_operator::crd::PYTHON_VERSIONS;
use openlit_operator::crd::requirements::parse_requirement;
use providers_support::{PROVIDERS, UV_VERSION, providers_dir, python};

fn read(path: &str) -> String {
    std::fs::read_to_string(providers_dir().join(path)).unwrap()
}

/// `(version, base image, default)` rows of python-versions.txt.
fn python_versions() -> Vec<(String, String, bool)> {
    read("python-versions.txt")
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            (
                words[0].to_string(),
                words[1].to_string(),
                words.get(2) == Some(&"default"),
            )
        })
        .collect()
}

#[test]
fn dockerfiles_build_what_the_acceptance_test_installs() {
    let versions = python_versions();
    let default_image = versions.iter().find(|(_, _, d)| *d).unwrap().1.clone();
    for provider in PROVIDERS {
        let dockerfile = read(&format!("{provider}/Dockerfile"));
        let joined = dockerfile.replace("\\\n", " ");
        let has = |text: &str| {
            assert!(
                joined.contains(text),
                "{provider}/Dockerfile lacks {text:?}"
            )
        };
        has(&format!("ARG BASE_IMAGE={default_image}\n"));
        has("COPY build-tools.txt /tmp/build-tools.txt");
        has("pip install --no-cache-dir --disable-pip-version-check --require-hashes");
        has("--requirement /tmp/build-tools.txt");
        has(&format!(
            "COPY {provider}/requirements.txt /opt/instrumentation/{provider}/requirements.txt"
        ));
        has(
            "uv pip install --no-cache --python python3 --no-deps --require-hashes --compile-bytecode",
        );
        has(&format!(
            "--target /opt/instrumentation/{provider}/site-packages"
        ));
        has(&format!(
            "--requirement /opt/instrumentation/{provider}/requirements.txt"
        ));
        has(&format!(
            "COPY base/_instrumentation_bootstrap.py {provider}/sitecustomize.py /opt/instrumentation/{provider}/"
        ));
        has("COPY base/setup-instrumentation.py /usr/local/bin/setup-instrumentation.py");
        has(&format!(
            "INSTRUMENTATION_SOURCE=/opt/instrumentation/{provider}"
        ));
        has("USER 65532:65532");
        has(r#"ENTRYPOINT ["python3", "/usr/local/bin/setup-instrumentation.py"]"#);
        assert!(
            !joined.contains(":latest"),
            "{provider}/Dockerfile pins every image"
        );
        for from in joined.lines().filter(|l| l.starts_with("FROM ")) {
            assert!(
                from.starts_with("FROM ${BASE_IMAGE}"),
                "{provider}/Dockerfile: {from:?} is not the pinned BASE_IMAGE"
            );
        }
    }
}

/// The entries of a lock file: `(requirement with its marker, its hashes)`, continuation lines
/// joined and comments dropped.
fn lock_entries(lock: &str) -> Vec<(String, Vec<String>)> {
    lock.replace("\\\n", " ")
        .lines()
        .map(|l| l.split(" #").next().unwrap_or_default().trim())
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (requirement, hashes) = l.split_once(" --hash=").unwrap_or((l, ""));
            let hashes = if hashes.is_empty() {
                Vec::new()
            } else {
                format!("--hash={hashes}")
                    .split_whitespace()
                    .map(|h| h.trim_start_matches("--hash=").to_string())
                    .collect()
            };
            (requirement.trim().to_string(), hashes)
        })
        .collect()
}

/// Every lock file the images install: each provider's, and the build tools'.
fn locks() -> Vec<(String, String)> {
    PROVIDERS
        .iter()
        .map(|p| format!("{p}/requirements.txt"))
        .chain(["build-tools.txt".to_string()])
        .map(|path| {
            let text = read(&path);
            (path, text)
        })
        .collect()
}

#[test]
fn every_lock_pins_every_package() {
    for provider in PROVIDERS {
        let entries = lock_entries(&read(&format!("{provider}/requirements.txt")));
        assert!(entries.len() > 5, "{provider}: {entries:?}");
        for (line, _) in &entries {
            let requirement = line.split(';').next().unwrap().trim();
            assert!(
                requirement.contains("==") && !requirement.contains(['>', '<', '~', '*']),
                "{provider}/requirements.txt: {line:?} is not pinned"
            );
        }
        let wanted = read(&format!("{provider}/requirements.in"));
        for line in wanted
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
        {
            assert!(
                entries.iter().any(|(l, _)| l == line),
                "{provider}: {line} of requirements.in is in the lock"
            );
        }
    }
}

/// `--require-hashes` installs a lock only when every entry names the SHA-256 of its files.
#[test]
fn every_lock_entry_carries_the_sha256_of_its_files() {
    for (path, text) in locks() {
        for (requirement, hashes) in lock_entries(&text) {
            assert!(
                !hashes.is_empty(),
                "{path}: {requirement} has no --hash (regenerate with operator/providers/lock.sh)"
            );
            for hash in hashes {
                let digest = hash
                    .strip_prefix("sha256:")
                    .unwrap_or_else(|| panic!("{path}: {requirement}: {hash} is not a SHA-256"));
                assert!(
                    digest.len() == 64 && digest.bytes().all(|b| b.is_ascii_hexdigit()),
                    "{path}: {requirement}: {hash} is not a SHA-256"
                );
            }
        }
    }
    let tools = lock_entries(&read("build-tools.txt"));
    assert_eq!(
        tools.iter().map(|(r, _)| r.as_str()).collect::<Vec<_>>(),
        [format!("uv=={UV_VERSION}")],
        "the images and the tests install the same uv"
    );
}

#[test]
fn python_versions_of_the_images_are_those_the_resource_accepts() {
    let versions = python_versions();
    let listed: Vec<&str> = versions.iter().map(|(v, _, _)| v.as_str()).collect();
    assert_eq!(listed, PYTHON_VERSIONS);
    for (version, image, _) in &versions {
        // `python:<patch release>-<variant>`, optionally followed by `@sha256:<digest>`.
        let (tag, digest) = image.split_once('@').unwrap_or((image, ""));
        assert!(
            tag.starts_with(&format!("python:{version}.")) && tag.matches(':').count() == 1,
            "{image} is the exact patch release of CPython {version}"
        );
        assert!(
            digest.is_empty()
                || digest
                    .strip_prefix("sha256:")
                    .is_some_and(|d| { d.len() == 64 && d.bytes().all(|b| b.is_ascii_hexdigit()) }),
            "{image}: a digest is sha256:<64 hex digits>"
        );
    }
    assert_eq!(
        versions.iter().filter(|(_, _, d)| *d).count(),
        1,
        "one default version"
    );
}

/// The setup program re-checks each `--package` itself; it must accept and refuse what the
/// operator's parser does, with the same words.
#[test]
fn the_setup_program_checks_requirements_like_the_operator() {
    let python = python();
    let cases = [
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
        "",
        "   ",
        "-r requirements.txt",
        "--extra-index-url=http://evil",
        "./local/path",
        "pkg @ https://example.com/pkg.whl",
        "pkg @https://example.com/pkg.whl",
        "pkg | cat",
        "pkg && id",
        "pkg`id`",
        "pkg\\x",
        "pkg$HOME",
        "naïve",
        "pkg\"",
        "pkg'",
        "pkg>=",
        "pkg>=1,",
        "pkg=1",
        "pkg (>=1",
        "pkg[",
        "pkg[a,]",
        "pkg[a b]",
        "pkg extra",
        "pkg;",
        "pkg; foo == 'bar'",
        "pkg; python_version",
        "pkg; python_version >= '3",
        "pkg; (python_version >= '3'",
        "pkg; python_version >= '3' or",
        "pkg; python_version >= '3' )",
        "pkg; python_version ~ '3'",
        "-pkg",
        "pkg-",
        "_pkg",
    ];
    let script = format!(
        "import importlib.util, json, sys\n\
         spec = importlib.util.spec_from_file_location('setup_program', {:?})\n\
         module = importlib.util.module_from_spec(spec)\n\
         spec.loader.exec_module(module)\n\
         out = []\n\
         for item in json.load(sys.stdin):\n\
         \x20   try:\n\
         \x20       module.check_requirement(item)\n\
         \x20       out.append(None)\n\
         \x20   except module.SetupError as error:\n\
         \x20       out.append(str(error))\n\
         print(json.dumps(out))\n",
        providers_dir()
            .join("base/setup-instrumentation.py")
            .display()
            .to_string()
    );
    let mut child = Command::new(python)
        .args(["-c", &script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    serde_json::to_writer(child.stdin.take().unwrap(), &cases[..]).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let verdicts: Vec<Option<String>> = serde_json::from_slice(&output.stdout).unwrap();
    for (case, verdict) in cases.iter().zip(verdicts) {
        let expected = parse_requirement(case).err().map(|e| {
            format!("custom package \"{case}\" is not a valid PEP 508 requirement: it {e}")
        });
        assert_eq!(verdict, expected, "{case:?}");
    }
}
