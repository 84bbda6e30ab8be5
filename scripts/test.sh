#!/usr/bin/env bash
# Installs what is missing, builds, and runs the whole test suite (unit tests and multi-rank tests).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-dependencies.sh
if [ "$(id -u)" -eq 0 ]; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
swift build --build-tests
log=$(mktemp)
trap 'rm -f "$log"' EXIT
swift test --skip-build "$@" 2>&1 | tee "$log"
# A plain closing line: Swift Testing's count (XCTest's "Executed 0 tests" is only its empty half).
count=$(sed -n 's/.*Test run with \([0-9]*\) tests\{0,1\} .* passed.*/\1/p' "$log" | tail -1)
[ -n "$count" ] || { echo "no passing Swift Testing run found" >&2; exit 1; }
echo "tests: $count passed, 0 failed"
