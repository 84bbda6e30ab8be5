#!/usr/bin/env bash
# The main job: installs what is missing, builds in release mode, and trains the VAE for one epoch on
# 2 MPI ranks, ending with samples (runs/demo/samples.png), FID, KID and IS against the Fashion-MNIST
# test set (the log and runs/demo/metrics.jsonl), and a checkpoint. Extra arguments go to
# `gentrain train` (for example --set train.epochs=10).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-dependencies.sh
swift build -c release --product gentrain
if [[ $(id -u) == 0 ]]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
mpirun -n 2 --oversubscribe --bind-to none "$PWD/.build/release/gentrain" train jobs/vae-fashion.yaml \
    --set train.epochs=1 --set output=runs/demo --resume never "$@"
echo "pictures: runs/demo/samples.png, runs/demo/samples-step-*.png; metrics: runs/demo/metrics.jsonl"
