#!/usr/bin/env python3
"""SAGAN's training step, gentrain against PyTorch for CPU, alternated in one run (the machine's speed drifts in ~20 s
episodes): per round `gentrain bench sagan`, then scripts/bench_sagan_reference.py in PyTorch's NCHW and channels-last
layouts, each at batch 128 and --threads threads. Prints every JSON line, then per round gentrain's time over the
faster PyTorch layout's (below 1: gentrain is faster) and the medians over rounds.

    ~/.cache/gentrain-export-venv/bin/python scripts/bench_sagan.py [--rounds 3] [--threads 1] [--steps 10]

Run it under `flock -x /work/cpu.lock` on a shared machine.
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
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--gentrain", default=os.path.join(here, "..", ".build", "release", "gentrain"))
    arguments = parser.parse_args()
    common = ["--batch", "128", "--steps", str(arguments.steps), "--warmup", str(arguments.warmup), "--threads", str(arguments.threads)]
    rounds = []
    for _ in range(arguments.rounds):
        ours = last_json([arguments.gentrain, "bench", "sagan", "--classes", "8", "--json"] + common)
        reference = [sys.executable, os.path.join(here, "bench_sagan_reference.py")] + common
        nchw = last_json(reference)
        nhwc = last_json(reference + ["--channels-last"])
        rounds.append((ours["ms_median"], nchw["ms_median"], nhwc["ms_median"]))
    print()
    print("| round | gentrain ms | torch NCHW ms | torch NHWC ms | gentrain / faster torch |")
    print("| --- | --- | --- | --- | --- |")
    for index, (ours, nchw, nhwc) in enumerate(rounds):
        print(f"| {index + 1} | {ours:.0f} | {nchw:.0f} | {nhwc:.0f} | {ours / min(nchw, nhwc):.3f} |")
    medians = [statistics.median(column) for column in zip(*rounds)]
    ratio = statistics.median(ours / min(nchw, nhwc) for ours, nchw, nhwc in rounds)
    print(f"| median | {medians[0]:.0f} | {medians[1]:.0f} | {medians[2]:.0f} | {ratio:.3f} |")


if __name__ == "__main__":
    main()
