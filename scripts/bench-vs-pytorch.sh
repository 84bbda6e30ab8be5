#!/usr/bin/env bash
# Release build, then gentrain and PyTorch alternately on the course's models (see bench_vs_pytorch.py).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -c "import torch" 2>/dev/null || pip install torch
swift build -c release --product gentrain
python3 scripts/bench_vs_pytorch.py "$@"
