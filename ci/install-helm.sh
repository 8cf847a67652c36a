#!/usr/bin/env bash
# Installs Helm 3 for the chart tests and lints when it is not already on PATH:
#   ci/install-helm.sh [directory, default $HOME/.local/bin]
# Prints the path of a working helm (see install-tool.sh for where it comes from).
set -euo pipefail
exec "$(dirname "$0")/install-tool.sh" helm "$@"
