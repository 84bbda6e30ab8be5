#!/usr/bin/env bash
# Installs what is missing, builds, and runs the whole test suite: the unit and multi-rank tests, the export check
# against PyTorch (scripts/check-export.sh), a run read by TensorBoard's own reader (scripts/check-tensorboard.sh), the
# install under Lmod (scripts/install-test.sh), then (as root) the two-node test over network namespaces and the Slurm
# requeue test on a private cluster.
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
# Swift Testing's count (XCTest's "Executed 0 tests" is only its empty half).
count=$(sed -n 's/.*Test run with \([0-9]*\) tests\{0,1\} .* passed.*/\1/p' "$log" | tail -1)
[ -n "$count" ] || { echo "no passing Swift Testing run found" >&2; exit 1; }

# The scaling model's fitting and prediction (docs/scaling.md) against known answers: the standard library only, < 1 s.
python3 scripts/scaling_model.py --self-test

# The export check against PyTorch (installs torch's CPU build, safetensors and numpy into a venv under ~/.cache).
export_check="skipped (a filtered run)"
if [ $# -eq 0 ]; then
  echo "== gentrain export and forward against the PyTorch twins"
  GENTRAIN="$PWD/.build/debug/gentrain" scripts/check-export.sh
  echo "== the event files through TensorBoard's own reader"
  GENTRAIN="$PWD/.build/debug/gentrain" scripts/check-tensorboard.sh
  export_check="export and TensorBoard checks passed"
fi

# The install: scripts/install.sh into a temporary prefix (the one release build of the suite), the Lmod module, and
# every command from another folder.
install_check="skipped (a filtered run)"
if [ $# -eq 0 ]; then
  echo "== scripts/install.sh, the Lmod module, and gentrain from another folder"
  scripts/install-test.sh
  install_check="install test passed"
fi

# The cluster tests need root (network namespaces, Slurm daemons); each ends with PASS or FAIL.
clusters="skipped (they need root)"
if [ "$(id -u)" -eq 0 ] && [ $# -eq 0 ]; then
  echo "== two nodes over network namespaces"
  GENTRAIN="$PWD/.build/debug/gentrain" scripts/two-nodes.sh
  echo "== Slurm: submit, requeue, resume"
  GENTRAIN="$PWD/.build/debug/gentrain" scripts/slurm-test.sh
  clusters="two-node and Slurm tests passed"
fi
echo "tests: $count passed, 0 failed; $export_check; $install_check; $clusters"
