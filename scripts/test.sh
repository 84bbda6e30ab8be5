#!/usr/bin/env bash
# Installs what is missing, builds, and runs the whole test suite (unit tests and multi-rank tests).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-dependencies.sh
if [ "$(id -u)" -eq 0 ]; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
swift build --build-tests
swift test --skip-build "$@"
