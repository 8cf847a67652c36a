#!/usr/bin/env bash
# Checks the operator's Dockerfile on a machine without a Docker engine, as far as one can:
#  1. hadolint, and the image's promises read from the Dockerfile itself: a distroless/static or
#     scratch base, a numeric non-root USER, an exec-form ENTRYPOINT;
#  2. the build stage's cargo command, run on a copy of the build context filtered by
#     .dockerignore, for the target the Alpine builder compiles natively (x86_64 musl);
#  3. the result is statically linked and runs, as UID 65532, in an empty root directory (what the
#     scratch smoke stage and the distroless image give it), printing its version and the CRD.
# Needs the x86_64-unknown-linux-musl Rust target and musl-gcc (Debian: musl-tools); installs
# them when missing. Root is needed for the chroot.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
target=x86_64-unknown-linux-musl
target_dir=${CARGO_TARGET_DIR:-$root/target-musl}
fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }

echo "--> hadolint"
if command -v hadolint >/dev/null 2>&1; then hadolint Dockerfile; else echo "hadolint not installed; skipped"; fi

echo "--> what the Dockerfile promises"
final_from=$(grep -E '^FROM ' Dockerfile | tail -n 1 | awk '{print $2}')
runtime=$(sed -n 's/^ARG RUNTIME_IMAGE=//p' Dockerfile)
[ "$final_from" = "\${RUNTIME_IMAGE}" ] || fail "the last stage is not FROM \${RUNTIME_IMAGE}"
case "$runtime" in
  gcr.io/distroless/static*:nonroot | scratch) ;;
  *) fail "runtime image $runtime is not distroless/static (nonroot) or scratch" ;;
esac
final_stage=$(awk '/^FROM /{stage=""} {stage=stage $0 "\n"} END{printf "%s", stage}' Dockerfile)
user=$(printf '%s' "$final_stage" | sed -n 's/^USER //p' | tail -n 1)
[[ "$user" =~ ^[1-9][0-9]*(:[1-9][0-9]*)?$ ]] || fail "the final USER '$user' is not a numeric non-root user"
printf '%s' "$final_stage" | grep -qE '^ENTRYPOINT \["' || fail "ENTRYPOINT is not in exec form"
grep -qE '^RUN \["/openlit-operator", "--version"\]' Dockerfile || fail "no smoke run in an empty image"
echo "runtime $runtime, user $user"

echo "--> the build stage's cargo command"
# Instructions joined across their line continuations, then the cargo command up to `&&`.
build=$(sed -e ':a' -e '/\\$/N; s/\\\n//; ta' Dockerfile |
  sed -n '/cargo build/{s/^.*\(cargo build [^&]*\).*$/\1/;p;q}' | tr -s ' ' | sed 's/[[:space:]]*$//')
[ -n "$build" ] || fail "no cargo build command in the Dockerfile"
echo "$build"
if ! rustup target list --installed | grep -qx "$target"; then rustup target add "$target"; fi
if ! command -v musl-gcc >/dev/null 2>&1; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq musl-tools >/dev/null
fi
context=$(mktemp -d)
trap 'rm -rf "$context"' EXIT
# The files `COPY . .` brings in: every file git knows of, minus .dockerignore's patterns.
git ls-files --cached --others --exclude-standard | python3 -c '
import fnmatch, sys
patterns = [l.strip() for l in open(".dockerignore") if l.strip() and not l.startswith("#")]
def ignored(path):
    parts = path.split("/")
    for i in range(1, len(parts) + 1):
        prefix = "/".join(parts[:i])
        for p in patterns:
            if fnmatch.fnmatch(prefix, p) or (p.startswith("**/") and fnmatch.fnmatch(parts[i - 1], p[3:])):
                return True
    return False
for line in sys.stdin:
    path = line.rstrip("\n")
    if not ignored(path):
        print(path)
' >"$context.list"
tar -cf - -T "$context.list" | tar -xf - -C "$context"
rm -f "$context.list"
read -r -a build_args <<<"$build"
(cd "$context" && CARGO_TARGET_DIR="$target_dir" "${build_args[@]}" --target "$target")
binary="$target_dir/$target/release/openlit-operator"

echo "--> static, and runs alone"
file "$binary"
file "$binary" | grep -qE 'statically linked|static-pie linked' || fail "the binary is not static"
if ldd "$binary" 2>&1 | grep -q "=>"; then fail "ldd finds shared libraries: $(ldd "$binary")"; fi
empty=$(mktemp -d)
trap 'rm -rf "$context" "$empty"' EXIT
chmod 0755 "$empty"
install -m 0755 "$binary" "$empty/openlit-operator"
chroot --userspec=65532:65532 "$empty" /openlit-operator --version
chroot --userspec=65532:65532 "$empty" /openlit-operator crd >"$context/crd.yaml"
cmp -s "$context/crd.yaml" operator/deploy/crd.yaml || fail "the image's binary prints another CRD"
echo "the Dockerfile's build stage produces a static binary that runs as 65532 in an empty root"
