#!/usr/bin/env bash
# Shared settings and helpers of the end-to-end scripts; sourced, never run.
# shellcheck disable=SC2034  # the settings are used by the scripts that source this file

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export PATH="$HOME/.local/bin:$PATH"
CLUSTER_NAME=${CLUSTER_NAME:-openlit-e2e}
KIND_VERSION=${KIND_VERSION:-v0.27.0}
# The node image kind v0.27.0 itself defaults to (pkg/apis/config/defaults/image.go), by digest.
KIND_NODE_IMAGE=${KIND_NODE_IMAGE:-kindest/node:v1.32.2@sha256:f226345927d7e348497136874b6d207e0b32cc52154ad8323129352923a3142f}
OPERATOR_IMAGE_REPOSITORY=${OPERATOR_IMAGE_REPOSITORY:-ghcr.io/openlit/openlit-operator}
IMAGE_TAG=${IMAGE_TAG:-e2e}
PROVIDER_PREFIX=${PROVIDER_PREFIX:-ghcr.io/openlit}
PROVIDERS=${PROVIDERS:-openlit openinference openllmetry}
RELEASE=${RELEASE:-openlit}
NAMESPACE=${NAMESPACE:-openlit}
CHART="$ROOT/operator/deploy/helm/openlit-operator"
WEBHOOK_CONFIG="$RELEASE-mutating-webhook-configuration"
LEASE="$RELEASE-operator-leader"
SECRET="$RELEASE-webhook-server-certs"
DEPLOYMENT="$RELEASE-operator"
POD_SELECTOR="app.kubernetes.io/name=openlit-operator,app.kubernetes.io/instance=$RELEASE"
# The image the test pods run; every kind node already has it (it is the sandbox image).
PAUSE_IMAGE=${PAUSE_IMAGE:-registry.k8s.io/pause:3.10}

log() { printf '==> %s\n' "$*" >&2; }
fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }

# wait_for <seconds> <description> <command...>: runs the command until it succeeds or time is up.
wait_for() {
  local seconds=$1 what=$2
  shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      fail "timed out after ${seconds}s waiting for: $what"
    fi
    sleep 1
  done
}

# The current holder of the leader Lease (empty when none).
leader() {
  kubectl -n "$NAMESPACE" get lease "$LEASE" -o jsonpath='{.spec.holderIdentity}' 2>/dev/null || true
}

# True when the webhook configuration exists and carries a CA bundle.
webhook_ready() {
  local bundle
  bundle=$(kubectl get mutatingwebhookconfiguration "$WEBHOOK_CONFIG" \
    -o jsonpath='{.webhooks[0].clientConfig.caBundle}' 2>/dev/null) || return 1
  [ -n "$bundle" ]
}

# install_chart [extra helm arguments...]: installs or upgrades the operator with the e2e images.
install_chart() {
  helm upgrade --install "$RELEASE" "$CHART" \
    --namespace "$NAMESPACE" --create-namespace \
    --set image.repository="$OPERATOR_IMAGE_REPOSITORY" \
    --set image.tag="$IMAGE_TAG" \
    --set image.pullPolicy=IfNotPresent \
    --set providerImages.prefix="$PROVIDER_PREFIX" \
    --wait --timeout 5m "$@"
  kubectl -n "$NAMESPACE" rollout status "deployment/$DEPLOYMENT" --timeout=5m
  wait_for 120 "a leader" test -n "$(leader)"
  wait_for 120 "the webhook configuration with a CA bundle" webhook_ready
}

# The AutoInstrumentation that selects the test pods of namespace $1 (label app=$2).
apply_resource() {
  local namespace=$1 app=$2
  kubectl create namespace "$namespace" --dry-run=client -o yaml | kubectl apply -f -
  kubectl apply -f - <<YAML
apiVersion: openlit.io/v1alpha1
kind: AutoInstrumentation
metadata:
  name: $app
  namespace: $namespace
spec:
  selector:
    matchLabels:
      app: $app
  python:
    instrumentation:
      provider: openlit
      version: $IMAGE_TAG
  otlp:
    endpoint: http://otel-collector.$namespace.svc:4318
YAML
}

# create_pod <namespace> <app> <name>: creates one Python-looking pod; fails when admission fails.
create_pod() {
  kubectl create -f - >/dev/null <<YAML
apiVersion: v1
kind: Pod
metadata:
  name: $3
  namespace: $1
  labels:
    app: $2
  annotations:
    openlit.io/inject-python: "true"
spec:
  restartPolicy: Never
  containers:
    - name: app
      image: $PAUSE_IMAGE
  # Never scheduled: the checks are about admission, so the pods stay Pending and cost nothing.
  nodeSelector:
    e2e/no-such-node: "true"
YAML
}

# instrumented <namespace> <pod>: true when the webhook mutated the pod.
instrumented() {
  local by
  by=$(kubectl -n "$1" get pod "$2" -o jsonpath='{.metadata.annotations.openlit\.io/instrumented-by}')
  [ -n "$by" ] || return 1
  kubectl -n "$1" get pod "$2" -o jsonpath='{.spec.initContainers[*].name}' | grep -q 'auto-instrumentation-'
}

# create_pods <namespace> <app> <prefix> <count> <failures file>: creates pods one after another,
# appending the name of each pod whose creation failed to the failures file.
create_pods() {
  local namespace=$1 app=$2 prefix=$3 count=$4 failures=$5 i
  for ((i = 1; i <= count; i++)); do
    create_pod "$namespace" "$app" "$prefix-$i" || echo "$prefix-$i" >>"$failures"
    sleep 0.5
  done
}

# check_all_instrumented <namespace> <prefix> <count> <failures file>
check_all_instrumented() {
  local namespace=$1 prefix=$2 count=$3 failures=$4 i missing=0
  if [ -s "$failures" ]; then
    fail "$(wc -l <"$failures") pod creations failed: $(tr '\n' ' ' <"$failures")"
  fi
  for ((i = 1; i <= count; i++)); do
    if ! instrumented "$namespace" "$prefix-$i"; then
      echo "not instrumented: $namespace/$prefix-$i" >&2
      missing=$((missing + 1))
    fi
  done
  ((missing == 0)) || fail "$missing of $count pods were admitted without instrumentation"
  log "all $count pods admitted and instrumented, no failed admission"
}
