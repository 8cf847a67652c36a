#!/usr/bin/env bash
# Uninstalls the chart and checks that nothing is left that stands in the way of pods: no webhook
# configuration of this installation, and a pod that the installation's resource would have
# selected is created at once and left unchanged.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

test_ns=e2e-uninstall
apply_resource "$test_ns" after
log "uninstalling $RELEASE"
helm uninstall "$RELEASE" --namespace "$NAMESPACE" --wait --timeout 5m
gone() { ! kubectl get mutatingwebhookconfiguration "$WEBHOOK_CONFIG" >/dev/null 2>&1; }
wait_for 120 "the webhook configuration $WEBHOOK_CONFIG to be removed" gone
pods_gone() { [ -z "$(kubectl -n "$NAMESPACE" get pods -l "$POD_SELECTOR" -o name)" ]; }
wait_for 120 "the operator pods to end" pods_gone

for i in 1 2 3; do
  start=$SECONDS
  create_pod "$test_ns" after "after-$i" || fail "pod after-$i was refused after uninstall"
  ((SECONDS - start <= 5)) || fail "creating pod after-$i took $((SECONDS - start))s"
  if instrumented "$test_ns" "after-$i"; then
    fail "pod after-$i was mutated after uninstall"
  fi
done
log "pods are created normally after uninstall"
kubectl delete namespace "$test_ns" --wait=false
