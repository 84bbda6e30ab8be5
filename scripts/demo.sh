#!/usr/bin/env bash
# The main job: installs what is missing, builds in release mode, and trains the default model,
# ending with a picture and metrics in runs/demo.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-dependencies.sh
swift build -c release --product gentrain
.build/release/gentrain demo "$@"
