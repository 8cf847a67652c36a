#!/bin/sh
# Regenerates every provider's lock file (requirements.txt) from its requirements.in.
# The locks are universal: one file serves every supported CPython (3.11 and newer), with
# environment markers where a dependency differs. Needs `uv` (PyPI package `uv`, 0.13.9).
set -eu
cd "$(dirname "$0")"
for provider in base openlit openinference openllmetry; do
    uv pip compile --quiet --universal --python-version 3.11 \
        --custom-compile-command "operator/providers/lock.sh" \
        --output-file "$provider/requirements.txt" "$provider/requirements.in"
done
