#!/usr/bin/env bash
# The whole end-to-end run on a kind cluster, in order:
#   cluster, images, install, behaviour suite, leader failover, certificate rotation, uninstall.
# Each step is also a script of its own. Set KEEP_CLUSTER=1 to keep the cluster afterwards.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
here=$(dirname "$0")

"$here/kind-up.sh"
if [ "${KEEP_CLUSTER:-0}" != 1 ]; then
  trap 'kind delete cluster --name "$CLUSTER_NAME"' EXIT
fi
"$here/build-images.sh"
"$here/install.sh"
"$here/features.sh"
"$here/leader-failover.sh"
"$here/cert-rotation.sh"
"$here/uninstall.sh"
log "end-to-end checks passed"
