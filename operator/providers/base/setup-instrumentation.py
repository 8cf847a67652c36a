#!/usr/bin/env python3
"""Delivers a provider's Python instrumentation into the volume shared with the application.

Run by the injected init container as

    python3 /usr/local/bin/setup-instrumentation.py --target /instrumentation-packages \
        --on-failure continue|block [--package <PEP 508 requirement>]...

with INSTRUMENTATION_PROVIDER and TARGET_PATH in the environment. Run without arguments (the
OpenLIT operator's invocation) it reads everything from the environment: TARGET_PATH,
INSTRUMENTATION_PROVIDER, CUSTOM_PACKAGES (comma-separated) and INSTRUMENTATION_ON_FAILURE.

What it does, in order:
1. empties the target directory (a retried init container starts from a clean volume);
2. copies the runtime files (sitecustomize.py and its helper module) into the target;
3. copies the provider's packages into the target;
4. installs each custom package with `python -m pip install --target`, after checking that it
   is a PEP 508 requirement (no URL, path, pip option or shell character);
5. records the CPython version the packages were built for, so that sitecustomize.py stays off
   in an application running another version.

On failure it prints the reason on stderr. With `--on-failure block` it exits 1, so the pod does
not start. With `--on-failure continue` it removes every package it copied, leaves the marker
file `.instrumentation-failed` (holding the reason) next to sitecustomize.py, which then stays
off and prints the reason when the application starts, and exits 0.

It works under a read-only root filesystem as a non-root user: it writes only inside the target
(temporary files in `<target>/.tmp`, removed before it exits) and runs pip without a cache.
The standard library is all it needs.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time

#: Marker file left in the target when setup failed under `--on-failure continue`.
FAILURE_MARKER = ".instrumentation-failed"
#: File recording the CPython version (`3.12`) the delivered packages were built for.
PYTHON_VERSION_FILE = ".instrumentation-python"
#: Runtime files copied to the target root before anything else.
RUNTIME_FILES = ("sitecustomize.py", "_instrumentation_bootstrap.py")
#: Where the images keep the providers: `<root>/<provider>/{site-packages,sitecustomize.py,...}`.
DEFAULT_SOURCE_ROOT = "/opt/instrumentation"
#: Where the OpenLIT operator's images kept them (packages and sitecustomize.py in one folder).
LEGACY_SOURCE_ROOT = "/instrumentations"
DEFAULT_TARGET = "/instrumentation-packages"
PIP_TIMEOUT_SECONDS = 600

PREFIX = "setup-instrumentation"


class SetupError(Exception):
    """A failure with a message meant for the person reading the pod's log."""


# ---------------------------------------------------------------------------------------------
# PEP 508 requirement checking. Mirrors the operator's own parser (operator/src/crd/requirements.rs)
# so that a requirement refused at admission is refused here too, whoever runs this program.

_OPERATORS = ("===", "==", "!=", "<=", ">=", "~=", "<", ">")
_MARKER_VARIABLES = frozenset(
    (
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
    )
)
_IDENTIFIER = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?\Z")
_NAME_CHARS = re.compile(r"[A-Za-z0-9._-]*")
_VERSION_CHARS = re.compile(r"[A-Za-z0-9._*+!-]*")


def check_requirement(item: str) -> str:
    """Returns the trimmed requirement, or raises SetupError saying what is wrong with it."""
    text = item.strip()

    def bad(why: str) -> SetupError:
        return SetupError(f'custom package "{item}" is not a valid PEP 508 requirement: {why}')

    if not text:
        raise bad("it is empty")
    for c in text:
        if not c.isascii():
            raise bad(f"it contains the non-ASCII character {c!r}")
    for c in text:
        if c in "|&$`\\" or ((ord(c) < 32 or ord(c) == 127) and c != "\t"):
            raise bad(f"it contains the shell metacharacter {c!r}")
    head, sep, marker = text.partition(";")
    if "'" in head or '"' in head:
        raise bad("it contains a quote outside an environment marker")
    _check_head(head, bad)
    if sep:
        marker = marker.strip()
        if not marker:
            raise bad("it has ';' but no environment marker after it")
        problem = _check_marker(marker)
        if problem:
            raise bad(
                "it has text after ';' that is not an environment marker such as "
                f'python_version >= "3.9": {problem}'
            )
    return text


def _check_head(head: str, bad) -> None:
    pos = _skip_ws(head, 0)
    name = _NAME_CHARS.match(head, pos).group(0)
    if not _IDENTIFIER.match(name):
        raise bad(
            "it must start with a package name (letters, digits, '.', '_' and '-', beginning and "
            "ending with a letter or digit); pip options and paths are not accepted"
        )
    pos = _skip_ws(head, pos + len(name))
    if head.startswith("[", pos):
        pos = _check_extras(head, pos + 1, bad)
    pos = _skip_ws(head, pos)
    if head.startswith("@", pos):
        raise bad("it is a direct URL requirement (name @ url), which is not accepted")
    if head.startswith("(", pos):
        pos = _check_specifiers(head, pos + 1, bad)
        pos = _skip_ws(head, pos)
        if not head.startswith(")", pos):
            raise bad("it has an invalid version specifier: '(' is not closed by ')'")
        pos += 1
    elif pos < len(head) and head[pos] in "<>=!~":
        pos = _check_specifiers(head, pos, bad)
    pos = _skip_ws(head, pos)
    if pos != len(head):
        raise bad(f"it has unexpected text '{head[pos:]}'")


def _skip_ws(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t":
        pos += 1
    return pos


def _check_extras(head: str, pos: int, bad) -> int:
    first = True
    while True:
        pos = _skip_ws(head, pos)
        if first and head.startswith("]", pos):
            return pos + 1
        extra = _NAME_CHARS.match(head, pos).group(0)
        if not _IDENTIFIER.match(extra):
            raise bad(f"it has malformed extras: expected an extra name at '{head[pos:]}'")
        pos = _skip_ws(head, pos + len(extra))
        if head.startswith("]", pos):
            return pos + 1
        if not head.startswith(",", pos):
            raise bad("it has malformed extras: expected ',' or ']' after an extra")
        pos += 1
        first = False


def _check_specifiers(head: str, pos: int, bad) -> int:
    while True:
        pos = _skip_ws(head, pos)
        operator = next((op for op in _OPERATORS if head.startswith(op, pos)), None)
        if operator is None:
            raise bad(
                f"it has an invalid version specifier: expected one of == != <= >= < > ~= === at '{head[pos:]}'"
            )
        pos = _skip_ws(head, pos + len(operator))
        version = _VERSION_CHARS.match(head, pos).group(0)
        if not version:
            found = f"'{head[pos:]}'" if head[pos:] else "nothing"
            raise bad(f"it has an invalid version specifier: '{operator}' must be followed by a version, found {found}")
        pos = _skip_ws(head, pos + len(version))
        if not head.startswith(",", pos):
            return pos
        pos += 1


def _marker_tokens(marker: str):
    tokens = []
    pos = 0
    while True:
        pos = _skip_ws(marker, pos)
        if pos >= len(marker):
            return tokens
        c = marker[pos]
        if c in "()":
            tokens.append(c)
            pos += 1
        elif c in "\"'":
            end = marker.find(c, pos + 1)
            if end < 0:
                raise ValueError("a quoted string is not closed")
            tokens.append("<str>")
            pos = end + 1
        elif c.isalpha() or c == "_":
            word = re.match(r"[A-Za-z0-9_]+", marker[pos:]).group(0)
            tokens.append(("word", word))
            pos += len(word)
        else:
            operator = next((op for op in _OPERATORS if marker.startswith(op, pos)), None)
            if operator is None:
                tokens.append(("bad", c))
                pos += 1
            else:
                tokens.append("<op>")
                pos += len(operator)


def _check_marker(marker: str) -> str | None:
    """Returns a description of the problem, or None when the marker follows PEP 508."""
    try:
        tokens = _marker_tokens(marker)
    except ValueError as error:
        return str(error)
    pos = 0

    def peek():
        return tokens[pos] if pos < len(tokens) else None

    def take():
        nonlocal pos
        token = peek()
        pos += 1
        return token

    def describe(token) -> str:
        if token == "<str>":
            return "quoted string"
        if token == "<op>":
            return "comparison operator"
        if isinstance(token, tuple):
            return f"'{token[1]}'" if token[0] == "word" else f"character {token[1]!r}"
        return f"'{token}'"

    def or_expr():
        and_expr()
        while peek() == ("word", "or"):
            take()
            and_expr()

    def and_expr():
        expr()
        while peek() == ("word", "and"):
            take()
            expr()

    def expr():
        if peek() == "(":
            take()
            or_expr()
            if take() != ")":
                raise ValueError("'(' is not closed by ')'")
            return
        variable()
        comparison()
        variable()

    def variable():
        token = take()
        if token == "<str>":
            return
        if isinstance(token, tuple) and token[0] == "word":
            if token[1] in _MARKER_VARIABLES:
                return
            raise ValueError(
                f"unknown marker variable '{token[1]}' (expected a name such as python_version, "
                "sys_platform or extra, or a quoted string)"
            )
        if token is None:
            raise ValueError("the marker ends where a value was expected")
        raise ValueError(f"expected a marker variable or quoted string, found {describe(token)}")

    def comparison():
        token = take()
        if token == "<op>" or token == ("word", "in"):
            return
        if token == ("word", "not") and peek() == ("word", "in"):
            take()
            return
        if token is None:
            raise ValueError("the marker ends where a comparison was expected")
        raise ValueError(
            f"expected a comparison (== != <= >= < > ~= === in, not in), found {describe(token)}"
        )

    try:
        or_expr()
        if peek() is not None:
            raise ValueError(f"unexpected {describe(peek())}")
    except ValueError as error:
        return str(error)
    return None


def split_requirements(text: str) -> list[str]:
    """Splits a comma-separated list (CUSTOM_PACKAGES) the way the operator does: a comma inside
    brackets, parentheses or a quoted marker string, or followed by another version specifier
    (`a>=1,<2`), does not separate requirements. Empty items are dropped."""
    items = []
    start = 0
    depth = 0
    in_marker = False
    quote = None
    for index, c in enumerate(text):
        if quote:
            if c == quote:
                quote = None
            continue
        if c in "[(":
            depth += 1
        elif c in "])":
            depth = max(depth - 1, 0)
        elif c == ";" and depth == 0:
            in_marker = True
        elif c in "\"'" and in_marker:
            quote = c
        elif c == "," and depth == 0:
            if in_marker or not text[index + 1 :].lstrip().startswith(("<", ">", "=", "!", "~")):
                items.append(text[start:index])
                start = index + 1
                in_marker = False
    items.append(text[start:])
    return [item.strip() for item in items if item.strip()]


# ---------------------------------------------------------------------------------------------
# Command line


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="setup-instrumentation.py",
        description="Copy the instrumentation packages and sitecustomize.py into the shared volume "
        "and install custom packages there.",
    )
    parser.add_argument(
        "--target",
        default=os.environ.get("TARGET_PATH") or DEFAULT_TARGET,
        help="the shared volume (default: $TARGET_PATH, else /instrumentation-packages)",
    )
    parser.add_argument(
        "--on-failure",
        choices=("continue", "block"),
        default=os.environ.get("INSTRUMENTATION_ON_FAILURE") or "block",
        help="continue: leave a marker, keep the application uninstrumented and exit 0; "
        "block: exit 1 so that the pod does not start (default: $INSTRUMENTATION_ON_FAILURE, else block)",
    )
    parser.add_argument(
        "--package",
        action="append",
        default=None,
        metavar="REQUIREMENT",
        help="a PEP 508 requirement to install into the target (repeatable)",
    )
    parser.add_argument(
        "--source",
        default=os.environ.get("INSTRUMENTATION_SOURCE") or None,
        help="the provider's folder in the image (default: $INSTRUMENTATION_SOURCE, else "
        "/opt/instrumentation/<provider>)",
    )
    parser.add_argument(
        "--provider",
        default=os.environ.get("INSTRUMENTATION_PROVIDER") or None,
        help="the provider's name (default: $INSTRUMENTATION_PROVIDER)",
    )
    # The word after --package is always its value, even when it starts with '-' (it is then
    # refused as a requirement with a clear message, not taken for an option).
    joined = []
    words = iter(argv)
    for word in words:
        if word == "--package":
            joined.append("--package=" + next(words, ""))
        else:
            joined.append(word)
    arguments = parser.parse_args(joined)
    if arguments.package is None:
        # The OpenLIT operator's invocation passes custom packages in the environment only.
        arguments.package = split_requirements(os.environ.get("CUSTOM_PACKAGES", ""))
    return arguments


def log(message: str) -> None:
    print(f"{PREFIX}: {message}", flush=True)


def fail_log(message: str) -> None:
    print(f"{PREFIX}: {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# The steps


def find_source(source: str | None, provider: str | None) -> tuple[str, str, str]:
    """Returns (provider folder, its packages folder, provider name)."""
    candidates = []
    if source:
        candidates.append(source)
    else:
        if provider:
            candidates.append(os.path.join(DEFAULT_SOURCE_ROOT, provider))
        if os.path.isdir(DEFAULT_SOURCE_ROOT):
            # An image holds one provider; a custom image may keep it under another name.
            candidates.extend(
                os.path.join(DEFAULT_SOURCE_ROOT, entry) for entry in sorted(os.listdir(DEFAULT_SOURCE_ROOT))
            )
        if provider:
            candidates.append(os.path.join(LEGACY_SOURCE_ROOT, provider))
    for folder in candidates:
        if os.path.isfile(os.path.join(folder, "sitecustomize.py")):
            packages = os.path.join(folder, "site-packages")
            if not os.path.isdir(packages):
                packages = folder  # the legacy layout keeps everything in one folder
            return folder, packages, provider or os.path.basename(folder.rstrip("/"))
    raise SetupError(
        "the image holds no instrumentation: none of "
        + ", ".join(candidates or [os.path.join(DEFAULT_SOURCE_ROOT, "<provider>")])
        + " contains sitecustomize.py (is INSTRUMENTATION_PROVIDER or INSTRUMENTATION_SOURCE right for this image?)"
    )


def empty_directory(path: str, keep: tuple[str, ...] = ()) -> None:
    for entry in os.listdir(path):
        if entry in keep:
            continue
        full = os.path.join(path, entry)
        if os.path.isdir(full) and not os.path.islink(full):
            shutil.rmtree(full)
        else:
            os.remove(full)


def copy_runtime_files(folder: str, target: str) -> None:
    for name in RUNTIME_FILES:
        source = os.path.join(folder, name)
        if os.path.isfile(source):
            shutil.copy2(source, os.path.join(target, name))
        elif name == "sitecustomize.py":
            raise SetupError(f"{source} is missing from the image")


def copy_packages(packages: str, target: str) -> int:
    """Copies the packages, keeping modification times so that the compiled bytecode stays valid."""
    count = 0
    for entry in sorted(os.listdir(packages)):
        if entry in RUNTIME_FILES or entry in ("__pycache__", "bin", ".lock"):
            continue
        source = os.path.join(packages, entry)
        destination = os.path.join(target, entry)
        if os.path.isdir(source) and not os.path.islink(source):
            shutil.copytree(source, destination, symlinks=True, dirs_exist_ok=True)
        else:
            shutil.copy2(source, destination, follow_symlinks=False)
        count += 1
    return count


_HASH_OPTION = re.compile(r"\s--hash[=\s]\S+")


def constraints_from_lock(lock: str, destination: str) -> str:
    """Writes the lock's pins without their `--hash` options to `destination` and returns it.

    pip treats a constraints file that carries hashes as `--require-hashes` for every requirement,
    which no custom package (unpinned, unhashed) could satisfy. The locked packages themselves were
    installed, hash-checked, when the image was built; here the pins only steer the resolver."""
    with open(lock, encoding="utf-8") as handle:
        logical = handle.read().replace("\\\n", " ")
    lines = []
    for line in logical.splitlines():
        line = _HASH_OPTION.sub("", line.split(" #", 1)[0]).strip()
        if line and not line.startswith("#"):
            lines.append(line)
    with open(destination, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
    return destination


def install_packages(requirements: list[str], target: str, lock: str | None) -> None:
    temporary = os.path.join(target, ".tmp")
    staging = os.path.join(temporary, "install")
    os.makedirs(staging, exist_ok=True)
    environment = dict(os.environ)
    environment.update(
        {
            "TMPDIR": temporary,
            "TEMP": temporary,
            "TMP": temporary,
            "HOME": temporary,
            "PIP_NO_INPUT": "1",
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
            "PYTHONUSERBASE": temporary,
        }
    )
    environment.pop("PYTHONPATH", None)
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--target",
        staging,
        "--no-cache-dir",
        "--no-input",
        "--disable-pip-version-check",
        "--no-warn-script-location",
        "--prefer-binary",
    ]
    if lock:
        try:
            constraints = constraints_from_lock(lock, os.path.join(temporary, "constraints.txt"))
        except OSError as error:
            shutil.rmtree(temporary, ignore_errors=True)
            raise SetupError(f"reading the lock {lock} failed: {error}") from error
        command += ["--constraint", constraints]
    command += ["--", *requirements]
    log("installing custom packages: " + ", ".join(requirements))
    try:
        result = subprocess.run(
            command,
            env=environment,
            cwd=temporary,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=PIP_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired as error:
        raise SetupError(f"pip did not finish within {PIP_TIMEOUT_SECONDS} s installing {', '.join(requirements)}") from error
    except OSError as error:
        shutil.rmtree(temporary, ignore_errors=True)
        raise SetupError(f"could not run pip ({sys.executable} -m pip): {error}") from error
    output = result.stdout or ""
    if result.returncode != 0:
        shutil.rmtree(temporary, ignore_errors=True)
        lines = [line for line in output.splitlines() if line.strip()]
        detail = "\n".join(lines[-25:])
        raise SetupError(
            f"pip could not install {', '.join(requirements)} (exit code {result.returncode}):\n{detail}"
        )
    for line in output.splitlines():
        if line.startswith("Successfully installed"):
            log(line)
    try:
        merge_tree(staging, target)
    except OSError as error:
        raise SetupError(f"moving the custom packages into {target} failed: {error}") from error
    finally:
        shutil.rmtree(temporary, ignore_errors=True)


def merge_tree(source: str, destination: str) -> None:
    """Moves files from `source` into `destination`, merging folders (pip's --target replaces or
    skips a folder that exists, which loses modules added to a namespace package such as
    `opentelemetry`). A file that exists already stays: the constraints pin the same version."""
    for entry in os.listdir(source):
        if entry in ("bin", "__pycache__") and source.endswith("install"):
            continue
        from_path = os.path.join(source, entry)
        to_path = os.path.join(destination, entry)
        if os.path.isdir(from_path) and not os.path.islink(from_path):
            if os.path.isdir(to_path):
                merge_tree(from_path, to_path)
            elif not os.path.exists(to_path):
                os.replace(from_path, to_path)
        elif not os.path.lexists(to_path):
            os.replace(from_path, to_path)


def fallback_sitecustomize(target: str) -> None:
    """Writes a minimal sitecustomize.py that reports the failure, when the image's own could not be
    copied; it removes the volume from sys.path and runs the application's sitecustomize."""
    path = os.path.join(target, "sitecustomize.py")
    if os.path.exists(path):
        return
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(_FALLBACK_SITECUSTOMIZE)


_FALLBACK_SITECUSTOMIZE = '''\
"""Written by setup-instrumentation.py after a failed setup: reports it and steps aside."""
import importlib.machinery, importlib.util, os, sys
_here = os.path.dirname(os.path.abspath(__file__))
try:
    with open(os.path.join(_here, ".instrumentation-failed"), encoding="utf-8") as _f:
        _reason = _f.read().strip()
except OSError:
    _reason = "unknown reason"
print("instrumentation is off: " + _reason, file=sys.stderr)
_real = os.path.realpath(_here)
sys.path[:] = [p for p in sys.path if os.path.realpath(p or os.curdir) != _real]
_spec = importlib.machinery.PathFinder.find_spec("sitecustomize", sys.path)
if _spec is not None and _spec.loader is not None:
    try:
        _spec.loader.exec_module(importlib.util.module_from_spec(_spec))
    except Exception as _error:
        print("Error in sitecustomize; set PYTHONVERBOSE for traceback:", type(_error).__name__ + ":", _error, file=sys.stderr)
'''


def setup(arguments: argparse.Namespace) -> None:
    target = arguments.target
    try:
        os.makedirs(target, exist_ok=True)
    except OSError as error:
        raise SetupError(f"the target {target} does not exist and cannot be created: {error}") from error
    prepare_target(target)
    folder, packages, provider = find_source(arguments.source, arguments.provider)
    started = time.monotonic()
    try:
        copy_runtime_files(folder, target)
    except OSError as error:
        raise SetupError(f"copying sitecustomize.py into {target} failed: {error}") from error
    requirements = [check_requirement(item) for item in arguments.package]
    try:
        count = copy_packages(packages, target)
    except OSError as error:
        raise SetupError(f"copying the {provider} instrumentation into {target} failed: {error}") from error
    log(f"copied the {provider} instrumentation ({count} entries) into {target} in {time.monotonic() - started:.1f} s")
    if requirements:
        lock = os.path.join(folder, "requirements.txt")
        install_packages(requirements, target, lock if os.path.isfile(lock) else None)
    with open(os.path.join(target, PYTHON_VERSION_FILE), "w", encoding="utf-8") as handle:
        handle.write(f"{sys.version_info[0]}.{sys.version_info[1]}\n")
    log(f"ready: {provider} instrumentation for CPython {sys.version_info[0]}.{sys.version_info[1]}")


def prepare_target(target: str) -> None:
    """Empties a target left by an earlier attempt; refuses to touch a folder this program did not fill."""
    entries = os.listdir(target)
    if not entries:
        return
    ours = ("sitecustomize.py", FAILURE_MARKER, PYTHON_VERSION_FILE)
    if not any(name in entries for name in ours):
        raise SetupError(
            f"the target {target} is not empty and holds no earlier instrumentation; "
            "refusing to delete what it contains (it should be the instrumentation-packages volume)"
        )
    try:
        empty_directory(target)
    except OSError as error:
        raise SetupError(f"cannot empty the target {target}: {error}") from error


def record_failure(target: str, reason: str) -> None:
    """Leaves the application a clean volume: the marker, and sitecustomize.py to report it."""
    try:
        if not os.path.isdir(target):
            return
        entries = os.listdir(target)
        if entries and not any(name in entries for name in ("sitecustomize.py", FAILURE_MARKER)):
            return  # not a volume this program filled: leave it alone
        empty_directory(target, keep=RUNTIME_FILES)
        with open(os.path.join(target, FAILURE_MARKER), "w", encoding="utf-8") as handle:
            handle.write(reason + "\n")
        fallback_sitecustomize(target)
    except OSError as error:
        fail_log(f"could not leave the failure marker in {target}: {error}")


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(sys.argv[1:] if argv is None else argv)
    try:
        setup(arguments)
        return 0
    except SetupError as error:
        reason = str(error)
    except Exception as error:  # anything unexpected is reported the same way
        reason = f"unexpected error: {type(error).__name__}: {error}"
    shutil.rmtree(os.path.join(arguments.target, ".tmp"), ignore_errors=True)
    if arguments.on_failure == "continue":
        fail_log(f"instrumentation setup failed: {reason}")
        fail_log("onFailure is continue: the application starts without instrumentation")
        record_failure(arguments.target, reason)
        return 0
    fail_log(f"instrumentation setup failed: {reason}")
    fail_log("onFailure is block: the pod will not start until this is fixed")
    return 1


if __name__ == "__main__":
    sys.exit(main())
