#!/usr/bin/env bash
# Runs the behaviour suite (features/) against the kind cluster instead of the simulator.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

export FEATURES_BACKEND=cluster
export KUBECONFIG=${KUBECONFIG:-$HOME/.kube/config}
export OPERATOR_NAMESPACE="$NAMESPACE" INSTALLATION_NAME="$RELEASE"
log "behaviour suite against $(kubectl config current-context)"
cd "$ROOT" || exit 1
cargo test -p features --test behaviour
