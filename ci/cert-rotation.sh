#!/usr/bin/env bash
# Installs with the shortest certificate validity the operator accepts (1 day), then brings the
# serving certificate to the end of its life: it is replaced in the Secret by one signed by the
# installation's own CA that expires within minutes (what the Secret holds after ~23 hours). The
# leader must renew it, every replica must serve the new certificate without a restart, and pods
# created throughout must all be admitted and instrumented (failurePolicy Fail).
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

test_ns=e2e-rotation
count=${ROTATION_PODS:-60}
work=$(mktemp -d)
failures="$work/failures"
trap 'rm -rf "$work"; kill "${forwards[@]}" 2>/dev/null || true' EXIT
forwards=()

install_chart --reuse-values --set webhook.failurePolicy=Fail --set certificates.validityDays=1
apply_resource "$test_ns" rotation
wait_for 60 "the first pod to be instrumented" \
  bash -c "source '$ROOT/ci/lib.sh' && kubectl -n $test_ns delete pod warmup --ignore-not-found >/dev/null &&
    create_pod $test_ns rotation warmup && instrumented $test_ns warmup"

secret_field() {
  kubectl -n "$NAMESPACE" get secret "$SECRET" -o jsonpath="{.data.${1//./\\.}}" | base64 -d
}
serial_of() { openssl x509 -noout -serial | cut -d= -f2; }

# A serving certificate for the same names, issued by the Secret's CA, valid from 23h50m ago
# until 10 minutes from now.
secret_field ca.crt | awk '/BEGIN/{n++} n==1' >"$work/ca.crt"
secret_field ca.key >"$work/ca.key"
secret_field tls.crt | awk '/BEGIN/{n++} n==1' >"$work/old.crt"
service="$RELEASE-webhook-service"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
  -keyout "$work/short.key" -subj "/CN=$service.$NAMESPACE.svc" -out "$work/short.csr" 2>/dev/null
mkdir -p "$work/ca/new"
: >"$work/ca/index.txt"
openssl rand -hex 16 >"$work/ca/serial"
cat >"$work/ca.cnf" <<CNF
[ca]
default_ca = e2e
[e2e]
dir = $work/ca
database = \$dir/index.txt
new_certs_dir = \$dir/new
serial = \$dir/serial
default_md = sha256
policy = any
copy_extensions = none
unique_subject = no
[any]
commonName = supplied
[leaf]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:$service, DNS:$service.$NAMESPACE, DNS:$service.$NAMESPACE.svc, DNS:$service.$NAMESPACE.svc.cluster.local
CNF
start_date=$(date -u -d '-23 hours -50 minutes' +%Y%m%d%H%M%SZ)
end_date=$(date -u -d '+10 minutes' +%Y%m%d%H%M%SZ)
openssl ca -batch -config "$work/ca.cnf" -extensions leaf -cert "$work/ca.crt" -keyfile "$work/ca.key" \
  -startdate "$start_date" -enddate "$end_date" -in "$work/short.csr" -out "$work/short.crt" -notext 2>/dev/null
short_serial=$(serial_of <"$work/short.crt")
log "replacing the serving certificate $(serial_of <"$work/old.crt") with $short_serial (expires $end_date)"

create_pods "$test_ns" rotation pod "$count" "$failures" &
creator=$!
sleep 5
kubectl -n "$NAMESPACE" patch secret "$SECRET" --type merge -p "{\"data\":{
  \"tls.crt\":\"$(base64 -w0 <"$work/short.crt")\",
  \"tls.key\":\"$(base64 -w0 <"$work/short.key")\"}}"

renewed() {
  local serial
  serial=$(secret_field tls.crt | awk '/BEGIN/{n++} n==1' | serial_of)
  [ -n "$serial" ] && [ "$serial" != "$short_serial" ] &&
    secret_field tls.crt | awk '/BEGIN/{n++} n==1' | openssl x509 -noout -checkend 3600 >/dev/null
}
wait_for 120 "the leader to renew the serving certificate" renewed
new_serial=$(secret_field tls.crt | awk '/BEGIN/{n++} n==1' | serial_of)
log "renewed: the Secret now holds $new_serial"

# Every replica serves the renewed certificate (no restart needed).
port=19443
for pod in $(kubectl -n "$NAMESPACE" get pods -l "$POD_SELECTOR" -o jsonpath='{.items[*].metadata.name}'); do
  kubectl -n "$NAMESPACE" port-forward "pod/$pod" "$port:webhook" >/dev/null 2>&1 &
  forwards+=("$!")
  serves_new() {
    local served
    served=$(openssl s_client -connect "127.0.0.1:$port" -servername "$service.$NAMESPACE.svc" \
      </dev/null 2>/dev/null | openssl x509 -noout -serial | cut -d= -f2)
    [ "$served" = "$new_serial" ]
  }
  wait_for 60 "$pod to serve the renewed certificate" serves_new
  log "$pod serves $new_serial"
  port=$((port + 1))
done
restarts=$(kubectl -n "$NAMESPACE" get pods -l "$POD_SELECTOR" \
  -o jsonpath='{range .items[*]}{.status.containerStatuses[0].restartCount}{"\n"}{end}' | sort -u)
[ "$restarts" = 0 ] || log "warning: operator restarts: $restarts"

wait "$creator"
check_all_instrumented "$test_ns" pod "$count" "$failures"
kubectl delete namespace "$test_ns" --wait=false
