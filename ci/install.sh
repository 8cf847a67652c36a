#!/usr/bin/env bash
# Installs the operator with the Helm chart and the images of ci/build-images.sh, then waits for
# two ready replicas, a leader and the webhook configuration. Extra arguments go to helm.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

log "installing $RELEASE into $NAMESPACE"
install_chart "$@"
kubectl -n "$NAMESPACE" get pods -l "$POD_SELECTOR" -o wide
ready=$(kubectl -n "$NAMESPACE" get deployment "$DEPLOYMENT" -o jsonpath='{.status.readyReplicas}')
[ "$ready" = 2 ] || fail "expected 2 ready replicas, found ${ready:-0}"
nodes=$(kubectl -n "$NAMESPACE" get pods -l "$POD_SELECTOR" -o jsonpath='{.items[*].spec.nodeName}' |
  tr ' ' '\n' | sort -u | wc -l)
[ "$nodes" = 2 ] || log "warning: both replicas run on one node"
log "installed; leader is $(leader)"
