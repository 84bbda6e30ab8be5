#!/usr/bin/env python3
"""One Baum-Welch iteration of gentrain's `hmm` against hmmlearn's, alternately, in one run, at 1 thread.

The course's example (jobs/hmm-fashion.yaml): the 6,000 training images of one Fashion-MNIST class (trousers, 1), each
a sequence of 28 rows of 28 pixels in [0, 1], a GaussianHMM with 8 states and diagonal covariances. Each round runs
`gentrain bench hmm --classes 1` (release build; its first step initialises, then warm-up and timed steps, each one EM
iteration over 6,000 sequences drawn from the class) and then times hmmlearn's `fit` with n_iter=1 from fitted
parameters (init_params="", so each call is one E-step and one M-step over the 6,000 sequences), OpenBLAS limited to
1 thread by threadpoolctl. Prints each round and the ratio of the medians (gentrain / hmmlearn: below 1 is faster).

    ~/.cache/gentrain-reference-venv/bin/python scripts/bench_hmm_hmmlearn.py [--rounds 3] [--steps 10] [--iterations 3]
"""
import argparse
import gzip
import json
import os
import statistics
import subprocess
import time

import hmmlearn
import numpy as np
from hmmlearn import hmm
from threadpoolctl import threadpool_limits

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def class_sequences(folder, label):
    with gzip.open(os.path.join(folder, "train-images-idx3-ubyte.gz")) as file:
        images = np.frombuffer(file.read(), dtype=np.uint8, offset=16).reshape(-1, 28, 28)
    with gzip.open(os.path.join(folder, "train-labels-idx1-ubyte.gz")) as file:
        labels = np.frombuffer(file.read(), dtype=np.uint8, offset=8)
    # gentrain's unit scaling in Float32 (pixel / 255), as the sequences reach its model.
    return (images[labels == label].astype(np.float32) / np.float32(255)).astype(np.float64)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=10, help="gentrain's timed steps per round")
    parser.add_argument("--iterations", type=int, default=3, help="hmmlearn's timed iterations per round")
    parser.add_argument("--states", type=int, default=8)
    parser.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    parser.add_argument("--gentrain", default=os.path.join(root, ".build", "release", "gentrain"))
    arguments = parser.parse_args()

    sequences = class_sequences(arguments.data, 1)
    flat, lengths = sequences.reshape(-1, 28), [28] * len(sequences)
    with threadpool_limits(limits=1):
        # hmmlearn's own initialisation (k-means, random Dirichlet startprob/transmat) and two iterations, untimed.
        model = hmm.GaussianHMM(n_components=arguments.states, covariance_type="diag", n_iter=2, random_state=0)
        model.fit(flat, lengths)
        model.init_params, model.n_iter = "", 1

    gentrain_ms, hmmlearn_ms = [], []
    for round_index in range(arguments.rounds):
        command = [arguments.gentrain, "bench", "hmm", "--classes", "1", "--threads", "1", "--steps", str(arguments.steps),
                   "--warmup", "2", "--json"]
        output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        record = json.loads([line for line in output.splitlines() if line.startswith("{")][-1])
        gentrain_ms.append(record["ms_median"])
        times = []
        with threadpool_limits(limits=1):
            for _ in range(arguments.iterations):
                start = time.perf_counter()
                model.fit(flat, lengths)
                times.append((time.perf_counter() - start) * 1000)
        hmmlearn_ms.append(statistics.median(times))
        print(json.dumps({"round": round_index + 1, "gentrain_ms_per_iteration": gentrain_ms[-1],
                          "hmmlearn_ms_per_iteration": round(hmmlearn_ms[-1], 2),
                          "ratio": round(gentrain_ms[-1] / hmmlearn_ms[-1], 4)}), flush=True)
    summary = {"hmmlearn": hmmlearn.__version__, "numpy": np.__version__, "sequences": len(sequences), "states": arguments.states,
               "rounds": arguments.rounds, "gentrain_median_ms": statistics.median(gentrain_ms),
               "hmmlearn_median_ms": round(statistics.median(hmmlearn_ms), 2),
               "ratio_of_medians": round(statistics.median(gentrain_ms) / statistics.median(hmmlearn_ms), 4)}
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
