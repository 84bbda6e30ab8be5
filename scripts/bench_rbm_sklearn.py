#!/usr/bin/env python3
"""One epoch of scikit-learn's BernoulliRBM.fit against one epoch of gentrain's RBM, alternated in one run.

Data: one Fashion-MNIST class (default 9, ankle boots: 6,000 training images), pixels binarised at 0.5 (as
gentrain's job); 256 hidden units, batch 10, learning rate 0.1. scikit-learn's BLAS is limited to 1 thread with
threadpoolctl; its epoch is `fit` with n_iter=1 (its initialisation, a 256 x 784 normal draw, is part of it: ~2 ms).
It computes in the dtype of X: Float64 (what `X / 255.` gives, the usual call) and Float32 are both timed.
gentrain's epoch is `gentrain bench rbm --batch 10 --classes C --steps 600` (600 training steps of a batch of 10, each
batch gathered and binarised inside the timed step): the sum of its 600 step times (mean x 600); the median-based
figure (600 x median) is printed beside it.

Each round runs scikit-learn Float64, scikit-learn Float32 and gentrain once; the ratios quoted are of the
medians over the rounds.

Run with the reference venv, after `swift build -c release`:
    ~/.cache/gentrain-reference-venv/bin/python scripts/bench_rbm_sklearn.py --rounds 5
"""

import argparse
import gzip
import json
import os
import statistics
import subprocess
import time

import numpy as np
from sklearn.neural_network import BernoulliRBM
from threadpoolctl import threadpool_limits

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


def load_class(folder, label):
    with gzip.open(os.path.join(folder, "train-images-idx3-ubyte.gz")) as file:
        images = np.frombuffer(file.read(), np.uint8, offset=16).reshape(-1, 784)
    with gzip.open(os.path.join(folder, "train-labels-idx1-ubyte.gz")) as file:
        labels = np.frombuffer(file.read(), np.uint8, offset=8)
    return (images[labels == label] / 255.0 > 0.5).astype(np.float64)


def sklearn_epoch(data, seed):
    rbm = BernoulliRBM(n_components=256, learning_rate=0.1, batch_size=10, n_iter=1, random_state=seed)
    start = time.perf_counter()
    rbm.fit(data)
    return time.perf_counter() - start


def gentrain_epoch(binary, folder, label, steps):
    command = [binary, "bench", "rbm", "--batch", "10", "--classes", str(label), "--steps", str(steps), "--warmup", "10",
               "--data", folder, "--json"]
    result = json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])
    return result["ms_mean"] * steps / 1000, result["ms_median"] * steps / 1000


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--label", type=int, default=9)
    parser.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    parser.add_argument("--binary", default=os.path.join(ROOT, ".build/release/gentrain"))
    arguments = parser.parse_args()
    data = load_class(arguments.data, arguments.label)
    steps = len(data) // 10
    times = {"sklearn_float64": [], "sklearn_float32": [], "gentrain": [], "gentrain_from_median_step": []}
    with threadpool_limits(limits=1):
        for round_index in range(arguments.rounds):
            times["sklearn_float64"].append(sklearn_epoch(data, round_index))
            times["sklearn_float32"].append(sklearn_epoch(data.astype(np.float32), round_index))
            total, from_median = gentrain_epoch(arguments.binary, arguments.data, arguments.label, steps)
            times["gentrain"].append(total)
            times["gentrain_from_median_step"].append(from_median)
            print("round %d: scikit-learn Float64 %.3f s, Float32 %.3f s, gentrain %.3f s (600 x median step %.3f s) per epoch" %
                  (round_index + 1, times["sklearn_float64"][-1], times["sklearn_float32"][-1], total, from_median), flush=True)
    medians = {name: statistics.median(values) for name, values in times.items()}
    print(json.dumps({"images": len(data), "steps_per_epoch": steps, "rounds": arguments.rounds,
                      "median_epoch_seconds": {k: round(v, 4) for k, v in medians.items()},
                      "gentrain_over_sklearn_float64": round(medians["gentrain"] / medians["sklearn_float64"], 3),
                      "gentrain_over_sklearn_float32": round(medians["gentrain"] / medians["sklearn_float32"], 3),
                      "per_round_ratio_float64": [round(g / s, 3) for g, s in zip(times["gentrain"], times["sklearn_float64"])]}))


if __name__ == "__main__":
    main()
