#!/usr/bin/env bash
# The main job: installs what is missing, builds in release mode, and trains the VAE for one epoch on
# 2 MPI ranks, ending with samples (runs/demo/samples.png), FID, KID and IS against the Fashion-MNIST
# test set with the validation loss (the log and runs/demo/metrics.jsonl), curves and a checkpoint. Extra arguments go to
# `gentrain run` (for example --set train.epochs=10).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-dependencies.sh
swift build -c release --product gentrain
# gentrain run builds the mpirun command (the run-as-root variables only for root, --oversubscribe only
# on a machine with fewer cores than ranks) and keeps a log per rank in runs/demo/logs.
"$PWD/.build/release/gentrain" run jobs/vae-fashion.yaml --ranks 2 \
    --set train.epochs=1 --set output=runs/demo --resume never "$@" -- --bind-to none
echo "pictures: runs/demo/samples.png, runs/demo/samples-step-*.png, runs/demo/curves.png; metrics: runs/demo/metrics.jsonl; TensorBoard: tensorboard --logdir runs"
