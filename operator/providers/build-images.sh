#!/bin/sh
# Builds every provider image for every CPython version of python-versions.txt:
#   ./build-images.sh <release> [registry prefix, default ghcr.io/openlit]
# tags <prefix>/<provider>-ai-instrumentation:<release>-py<version>, and also :<release> for the
# default version (what a resource without python.instrumentation.pythonVersion pulls).
set -eu
release=${1:?usage: build-images.sh <release> [registry prefix]}
prefix=${2:-ghcr.io/openlit}
cd "$(dirname "$0")"
grep -v '^#' python-versions.txt | while read -r version base default; do
    [ -n "$version" ] || continue
    for provider in base openlit openinference openllmetry; do
        image="$prefix/$provider-ai-instrumentation"
        set -- --tag "$image:$release-py$version"
        if [ "$default" = default ]; then
            set -- "$@" --tag "$image:$release"
        fi
        docker build --file "$provider/Dockerfile" --build-arg "BASE_IMAGE=$base" "$@" .
    done
done
