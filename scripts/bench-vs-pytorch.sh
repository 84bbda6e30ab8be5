#!/usr/bin/env bash
# Release build, then gentrain and PyTorch alternately on the course's models (see bench_vs_pytorch.py).
set -euo pipefail
cd "$(dirname "$0")/.."
# PyPI's default torch wheel is the CUDA build, which does not import without CUDA's libraries: take the CPU build.
python3 -c "import torch" 2>/dev/null || pip install torch --index-url https://download.pytorch.org/whl/cpu
swift build -c release --product gentrain
python3 scripts/bench_vs_pytorch.py "$@"
