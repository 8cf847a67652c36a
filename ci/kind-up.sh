#!/usr/bin/env bash
# Creates the kind cluster of kind-config/cluster.yaml (one control plane, two workers), installing
# kind first when it is missing. Idempotent: an existing cluster of the same name is reused.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

if ! command -v kind >/dev/null 2>&1; then
  log "installing kind $KIND_VERSION"
  mkdir -p "$HOME/.local/bin"
  curl -fsSLo "$HOME/.local/bin/kind" "https://kind.sigs.k8s.io/dl/$KIND_VERSION/kind-linux-amd64"
  chmod +x "$HOME/.local/bin/kind"
  export PATH="$HOME/.local/bin:$PATH"
fi
if kind get clusters 2>/dev/null | grep -qx "$CLUSTER_NAME"; then
  log "cluster $CLUSTER_NAME exists"
else
  log "creating cluster $CLUSTER_NAME"
  kind create cluster --name "$CLUSTER_NAME" --image "$KIND_NODE_IMAGE" \
    --config "$ROOT/kind-config/cluster.yaml" --wait 5m
fi
kubectl cluster-info --context "kind-$CLUSTER_NAME"
kubectl wait --for=condition=Ready nodes --all --timeout=5m
