#!/usr/bin/env bash
# The fixed 20-step run of each model that the model contract must leave bitwise unchanged: prints
# "job ranks params_sha256" per line. GENTRAIN names the binary (default: the debug build).
set -euo pipefail
cd "$(dirname "$0")/.."
gentrain=${GENTRAIN:-$PWD/.build/debug/gentrain}
if [ "$(id -u)" -eq 0 ]; then export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1; fi
folder=$(mktemp -d)
trap 'rm -rf "$folder"' EXIT
for job in autoencoder-fashion vae-fashion dcgan-bags evaluator-fashion; do
  for ranks in 1 2; do
    mpirun -n "$ranks" --bind-to none --oversubscribe "$gentrain" train "jobs/$job.yaml" --resume never \
        --set train.steps=20 --set train.batch_size=32 --set eval.every_epochs=0 \
        --set output="$folder/$job-$ranks" > "$folder/log" 2>&1 || { cat "$folder/log"; exit 1; }
    hash=$("$gentrain" inspect "$folder/$job-$ranks/checkpoints/step-0000000020.gtck" --json \
        | sed -n 's/.*"params_sha256":"\([0-9a-f]*\)".*/\1/p')
    echo "$job $ranks $hash"
  done
done
