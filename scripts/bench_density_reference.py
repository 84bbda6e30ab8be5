#!/usr/bin/env python3
"""The Python side of the density models' speed targets: scikit-learn's GaussianMixture (one EM iteration) and BernoulliRBM
(one epoch), hmmlearn's GaussianHMM (one Baum-Welch iteration), each with its BLAS held to --threads threads (threadpoolctl),
on the data gentrain's benchmarks use: one Fashion-MNIST training class, pixels / 255 rounded to float32 as gentrain reads them.

Prints one JSON object per model and round. scripts/bench-density.sh alternates it with `gentrain bench` in one run.

    ~/.cache/gentrain-reference-venv/bin/python scripts/bench_density_reference.py gmm [--rounds 3] [--class 0] [--threads 1]
"""
import argparse
import gzip
import json
import os
import statistics
import time

import numpy as np
from threadpoolctl import threadpool_limits


def fashion_class(folder, label):
    with gzip.open(os.path.join(folder, "train-images-idx3-ubyte.gz")) as file:
        images = np.frombuffer(file.read(), dtype=np.uint8, offset=16).reshape(-1, 784)
    with gzip.open(os.path.join(folder, "train-labels-idx1-ubyte.gz")) as file:
        labels = np.frombuffer(file.read(), dtype=np.uint8, offset=8)
    return (images[labels == label].astype(np.float32) / np.float32(255)).astype(np.float64)


def gmm_iterations(rows, steps):
    """One EM iteration as GaussianMixture.fit runs it (_e_step then _m_step), after its k-means start."""
    from sklearn.mixture import GaussianMixture
    mixture = GaussianMixture(n_components=8, covariance_type="full", max_iter=1, random_state=0).fit(rows)
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        _, log_resp = mixture._e_step(rows)
        mixture._m_step(rows, log_resp)
        times.append(time.perf_counter() - start)
    return times


def rbm_epochs(rows, steps):
    """One epoch of BernoulliRBM.fit: 256 hidden, batch 10, learning rate 0.1, on the pixels binarised at 0.5."""
    from sklearn.neural_network import BernoulliRBM
    binary = (rows > 0.5).astype(np.float64)
    times = []
    for step in range(steps):
        rbm = BernoulliRBM(n_components=256, learning_rate=0.1, batch_size=10, n_iter=1, random_state=step)
        start = time.perf_counter()
        rbm.fit(binary)
        times.append(time.perf_counter() - start)
    return times


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("model", choices=["gmm", "rbm"])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--class", dest="label", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    arguments = parser.parse_args()
    rows = fashion_class(arguments.data, arguments.label)
    import sklearn
    with threadpool_limits(limits=arguments.threads):
        for _ in range(arguments.rounds):
            times = {"gmm": gmm_iterations, "rbm": rbm_epochs}[arguments.model](rows, arguments.steps)
            print(json.dumps({"framework": "scikit-learn", "version": sklearn.__version__, "model": arguments.model, "rows": len(rows),
                              "threads": arguments.threads, "steps": arguments.steps, "ms_median": round(statistics.median(times) * 1000, 2),
                              "ms_min": round(min(times) * 1000, 2)}), flush=True)


if __name__ == "__main__":
    main()
