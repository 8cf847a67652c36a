#!/usr/bin/env bash
# Deletes the leader pod while pods are being created, and checks that another replica takes the
# Lease within the lease duration (plus the time to notice), that no admission failed (the webhook
# runs with failurePolicy Fail here, so a failed call would refuse the pod) and that every pod was
# instrumented.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

test_ns=e2e-failover
count=${FAILOVER_PODS:-60}
lease_seconds=15
failures=$(mktemp)
trap 'rm -f "$failures"' EXIT

install_chart --reuse-values --set webhook.failurePolicy=Fail \
  --set leaderElection.leaseDurationSeconds="$lease_seconds"
apply_resource "$test_ns" failover
# One pod first, so the resource is in every replica's cache before the clock starts.
wait_for 60 "the first pod to be instrumented" \
  bash -c "source '$ROOT/ci/lib.sh' && kubectl -n $test_ns delete pod warmup --ignore-not-found >/dev/null &&
    create_pod $test_ns failover warmup && instrumented $test_ns warmup"

old=$(leader)
[ -n "$old" ] || fail "no leader"
log "leader is $old; creating $count pods and deleting the leader"
create_pods "$test_ns" failover pod "$count" "$failures" &
creator=$!
sleep 5
kubectl -n "$NAMESPACE" delete pod "$old" --wait=false
start=$SECONDS
new_leader() {
  local now
  now=$(leader)
  [ -n "$now" ] && [ "$now" != "$old" ] &&
    kubectl -n "$NAMESPACE" get pod "$now" >/dev/null 2>&1
}
wait_for $((lease_seconds * 2 + 10)) "a new leader" new_leader
log "new leader $(leader) after $((SECONDS - start))s"
wait "$creator"

check_all_instrumented "$test_ns" pod "$count" "$failures"
kubectl -n "$NAMESPACE" rollout status "deployment/$DEPLOYMENT" --timeout=3m
kubectl delete namespace "$test_ns" --wait=false
