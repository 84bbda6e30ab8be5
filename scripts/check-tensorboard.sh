#!/usr/bin/env bash
# A real 2-rank run read by TensorBoard's own reader (scripts/check_tensorboard.py): a VAE on a tiny IDX folder stops at
# step 10, resumes from step 8, and TensorBoard's EventAccumulator must show what metrics.jsonl and the pictures hold,
# each step once; a changed byte must make TensorBoard's strict record reader raise.
# Installs tensorboard (with its pillow and protobuf) from PyPI into a virtual environment under ~/.cache when missing.
# GENTRAIN names the binary (default: the debug build).
set -euo pipefail
cd "$(dirname "$0")/.."
gentrain=${GENTRAIN:-$PWD/.build/debug/gentrain}
venv=${GENTRAIN_TENSORBOARD_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/gentrain-tensorboard-venv}
tensorboard_version=2.21.0
if ! "$venv/bin/python" -c "import tensorboard, PIL; assert tensorboard.__version__ == '$tensorboard_version'" 2>/dev/null; then
  echo "== installing tensorboard $tensorboard_version into $venv"
  python3 -m venv "$venv"
  pip_log=$(mktemp)
  "$venv/bin/pip" install --quiet --retries 1 --timeout 30 "tensorboard==$tensorboard_version" > "$pip_log" 2>&1 \
    || { cat "$pip_log"; echo "check-tensorboard: pip could not install tensorboard $tensorboard_version" >&2; exit 1; }
  rm -f "$pip_log"
fi
export PYTHONDONTWRITEBYTECODE=1
folder=$(mktemp -d)
trap 'rm -rf "$folder"' EXIT
"$venv/bin/python" scripts/check_tensorboard.py "$gentrain" "$folder"
