#!/usr/bin/env bash
# Builds the operator image (Dockerfile at the repository root) and the provider images
# (operator/providers/<provider>/Dockerfile, for the default CPython of python-versions.txt) and
# loads them into the kind cluster. The provider images are also tagged with the tags the behaviour
# suite's scenarios name (`latest`, the default, and a pinned version), so on kind those scenarios
# run the images just built; the operator's init containers use imagePullPolicy IfNotPresent.
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

operator_image="$OPERATOR_IMAGE_REPOSITORY:$IMAGE_TAG"
log "building $operator_image"
DOCKER_BUILDKIT=1 docker build --tag "$operator_image" "$ROOT"
images=("$operator_image")

base=$(awk '!/^#/ && $3 == "default" { print $2 }' "$ROOT/operator/providers/python-versions.txt")
[ -n "$base" ] || fail "no default CPython in operator/providers/python-versions.txt"
for provider in $PROVIDERS; do
  image="$PROVIDER_PREFIX/$provider-ai-instrumentation:$IMAGE_TAG"
  log "building $image (base $base)"
  DOCKER_BUILDKIT=1 docker build --file "$ROOT/operator/providers/$provider/Dockerfile" \
    --build-arg "BASE_IMAGE=$base" --tag "$image" "$ROOT/operator/providers"
  images+=("$image")
  for tag in ${SCENARIO_TAGS:-latest 1.2.3}; do
    docker tag "$image" "$PROVIDER_PREFIX/$provider-ai-instrumentation:$tag"
    images+=("$PROVIDER_PREFIX/$provider-ai-instrumentation:$tag")
  done
done

for image in "${images[@]}"; do
  log "loading $image into $CLUSTER_NAME"
  kind load docker-image --name "$CLUSTER_NAME" "$image"
done
