//! The provider images' build files keep their promises (Docker cannot run here, so the
//! Dockerfiles are checked as text): pinned base image, non-root user, the locked requirements
//! installed with the pinned uv exactly as the Python acceptance test installs them, and the
//! setup program's own PEP 508 check agreeing with the operator's parser word for word.

mod providers_support;

use std::process::{Command, Stdio};

use openlit_operator::crd::PYTHON_VERSIONS;
use openlit_operator::crd::requirements::parse_requirement;
use providers_support::{PROVIDERS, UV_VERSION, providers_dir, python_or_skip};

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
        has(&format!("uv=={UV_VERSION}"));
        has(&format!(
            "COPY {provider}/requirements.txt /opt/instrumentation/{provider}/requirements.txt"
        ));
        has("uv pip install --no-cache --python python3 --no-deps --compile-bytecode");
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
    }
}

#[test]
fn every_lock_pins_every_package() {
    for provider in PROVIDERS {
        let lock = read(&format!("{provider}/requirements.txt"));
        let requirements: Vec<&str> = lock
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with([' ', '#']))
            .collect();
        assert!(requirements.len() > 5, "{provider}: {requirements:?}");
        for line in requirements {
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
                lock.lines().any(|l| l == line),
                "{provider}: {line} of requirements.in is in the lock"
            );
        }
    }
}

#[test]
fn python_versions_of_the_images_are_those_the_resource_accepts() {
    let versions = python_versions();
    let listed: Vec<&str> = versions.iter().map(|(v, _, _)| v.as_str()).collect();
    assert_eq!(listed, PYTHON_VERSIONS);
    for (version, image, _) in &versions {
        assert!(
            image.starts_with(&format!("python:{version}.")) && image.matches(':').count() == 1,
            "{image} is the exact patch release of CPython {version}"
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
    let Some(python) = python_or_skip("requirement checks") else {
        return;
    };
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
