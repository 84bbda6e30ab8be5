#!/usr/bin/env python3
"""The density models' speed, side by side with scikit-learn / hmmlearn, alternated in one run (the machine's speed drifts in
~20 s episodes): per round, `gentrain bench MODEL` (1 rank, then --ranks 2) and scripts/bench_density_reference.py, each
at --threads BLAS threads on one Fashion-MNIST class. Prints every JSON line, then medians over rounds and the ratios
(gentrain's time over the reference's: below 1 means gentrain is faster; and the 2-rank speedup).

    ~/.cache/gentrain-reference-venv/bin/python scripts/bench_density.py gmm [--rounds 3] [--class 0] [--steps 3]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

here = os.path.dirname(os.path.abspath(__file__))


def last_json(command):
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    line = [line for line in output.splitlines() if line.startswith("{")][-1]
    print(line, flush=True)
    return json.loads(line)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("model", choices=["gmm", "rbm"])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--class", dest="label", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--gentrain", default=os.path.join(here, "..", ".build", "release", "gentrain"))
    arguments = parser.parse_args()
    common = ["--classes", str(arguments.label), "--threads", str(arguments.threads), "--json"]
    gentrain_args = {"gmm": ["--steps", str(arguments.steps), "--warmup", "1"], "rbm": ["--batch", "10", "--steps", "600", "--warmup", "20"]}
    one, two, reference = [], [], []
    for _ in range(arguments.rounds):
        one.append(last_json([arguments.gentrain, "bench", arguments.model] + gentrain_args[arguments.model] + common))
        reference.append(last_json([sys.executable, os.path.join(here, "bench_density_reference.py"), arguments.model, "--steps", str(arguments.steps),
                                    "--class", str(arguments.label), "--threads", str(arguments.threads)]))
        two.append(last_json([arguments.gentrain, "bench", arguments.model, "--ranks", "2", "--rounds", "1"] + gentrain_args[arguments.model] + common))
    # An RBM epoch is 600 steps of batch 10: gentrain's step time times 600 against scikit-learn's epoch.
    scale = 600 if arguments.model == "rbm" else 1
    gentrain_ms = statistics.median(run["ms_median"] for run in one) * scale
    reference_ms = statistics.median(run["ms_median"] for run in reference)
    two_ms = statistics.median(run["ms_median"] for run in two) * scale
    ratios = [a["ms_median"] * scale / b["ms_median"] for a, b in zip(one, reference)]
    print(f"{arguments.model}, {arguments.threads} thread(s), medians of {arguments.rounds} rounds: gentrain {gentrain_ms:.0f} ms, "
          f"{reference[0]['framework']} {reference_ms:.0f} ms: {statistics.median(ratios):.3f}x its time (per round: "
          + ", ".join(f"{ratio:.3f}" for ratio in ratios) + f"); 2 ranks {two_ms:.0f} ms: {gentrain_ms / two_ms:.2f}x faster than 1 rank")


if __name__ == "__main__":
    main()
