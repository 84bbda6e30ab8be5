#!/usr/bin/env python3
"""Data-parallel scaling of `gentrain train`: 1 rank x 1 thread against N ranks x 1 thread, alternately.

Each run trains the job for --steps steps (release build) and the median images/s of its steps after
the first three (from metrics.jsonl, timed by the slowest rank) is compared, round by round.

    python3 scripts/bench_scaling.py [--jobs vae-fashion,dcgan-bags] [--ranks 2] [--rounds 2] [--steps 25]
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import tempfile

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def run(job, ranks, steps):
    output = tempfile.mkdtemp(prefix="gentrain-scaling-")
    env = dict(os.environ)
    if os.getuid() == 0:
        env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    command = ["mpirun", "-n", str(ranks), "--bind-to", "none", "--oversubscribe",
               os.path.join(ROOT, ".build", "release", "gentrain"), "train", os.path.join(ROOT, "jobs", job + ".yaml"),
               "--set", f"output={output}", "--set", f"train.steps={steps}", "--set", "checkpoint.every_steps=0",
               "--set", "checkpoint.every_minutes=0", "--resume", "never"]
    subprocess.run(command, check=True, capture_output=True, env=env)
    records = [json.loads(line) for line in open(os.path.join(output, "metrics.jsonl"))]
    shutil.rmtree(output)
    return statistics.median(r["images_per_second"] for r in records[3:])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", default="vae-fashion,dcgan-bags")
    parser.add_argument("--ranks", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--steps", type=int, default=25)
    args = parser.parse_args()
    print("| job | 1 rank img/s | %d ranks img/s | speedup |" % args.ranks)
    print("| --- | --- | --- | --- |")
    for job in args.jobs.split(","):
        single, multi = [], []
        for _ in range(args.rounds):
            single.append(run(job, 1, args.steps))
            multi.append(run(job, args.ranks, args.steps))
        speedups = [m / s for s, m in zip(single, multi)]
        print(f"| {job} | {statistics.median(single):.0f} | {statistics.median(multi):.0f} | {statistics.median(speedups):.2f} |", flush=True)


if __name__ == "__main__":
    main()
