#!/usr/bin/env bash
# `gentrain export` against PyTorch: every model trains 2 steps, is exported as safetensors and npz, loads into its
# PyTorch twin with load_state_dict(strict=True) and gives the twin's outputs to 1e-5 (scripts/check_export.py).
# Installs torch's CPU build, safetensors and numpy into a virtual environment under ~/.cache when they are missing.
# GENTRAIN names the binary (default: the debug build); arguments name jobs (default: one per model).
set -euo pipefail
cd "$(dirname "$0")/.."
gentrain=${GENTRAIN:-$PWD/.build/debug/gentrain}
venv=${GENTRAIN_EXPORT_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/gentrain-export-venv}
torch_version=2.13.0
if [ "$(id -u)" -eq 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
if ! "$venv/bin/python" -c "import torch, safetensors.numpy, numpy; assert torch.__version__.endswith('+cpu')" 2>/dev/null; then
  echo "== installing torch $torch_version (CPU build), safetensors and numpy into $venv"
  python3 -m venv "$venv"
  # The +cpu build only (PyPI's torch is the CUDA build): from pip's find-links when it has the wheel, else from
  # PyTorch's CPU index; its dependencies, safetensors and numpy come from PyPI.
  pip_log=$(mktemp)
  "$venv/bin/pip" install --quiet --retries 1 --timeout 30 "torch==$torch_version+cpu" safetensors numpy \
      --extra-index-url https://download.pytorch.org/whl/cpu > "$pip_log" 2>&1 \
    || { cat "$pip_log"; echo "check-export: pip could not install torch $torch_version+cpu, safetensors and numpy" >&2; exit 1; }
  rm -f "$pip_log"
fi
export PYTHONDONTWRITEBYTECODE=1
folder=$(mktemp -d)
trap 'rm -rf "$folder"' EXIT
"$venv/bin/python" scripts/check_export.py "$gentrain" "$folder" "$@"
