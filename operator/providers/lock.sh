#!/bin/sh
# Regenerates every provider's lock file (requirements.txt) from its requirements.in, and the lock
# of the build tools (build-tools.txt). The locks are universal: one file serves every supported
# CPython (3.11 and newer), with environment markers where a dependency differs. Every entry carries
# the SHA-256 of each of its files, and the images install them with --require-hashes. Versions
# already in a lock are kept; add --upgrade-package <name> to move one. Needs `uv` (PyPI package
# `uv`, 0.13.9).
set -eu
cd "$(dirname "$0")"
compile() {
    uv pip compile --quiet --universal --python-version 3.11 --generate-hashes \
        --custom-compile-command "operator/providers/lock.sh" --output-file "$@"
}
for provider in base openlit openinference openllmetry; do
    compile "$provider/requirements.txt" "$provider/requirements.in"
done
compile build-tools.txt build-tools.in
