#!/usr/bin/env python3
"""gentrain's data-parallel step against PyTorch DDP (gloo), 2 processes x 1 thread, alternately.

Each round runs `gentrain bench MODEL --ranks 2` (which itself alternates 1 rank and 2 ranks and reports
the speedup and the time in all-reduces) and then the anchors' `bench_torch.py ddp` for the same model,
global batch 128. Prints every JSON line and, at the end, the medians over rounds and the ratio
gentrain img/s / DDP img/s. Also the bandwidth of gentrain's reducer against a bare MPI_Allreduce, and of
gloo's all-reduce.

    python3 scripts/bench_ddp.py [--models vae,dcgan] [--rounds 2] [--anchors ../shared/anchors]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def json_lines(command, env=None):
    output = subprocess.run(command, check=True, capture_output=True, text=True, env=env).stdout
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", default="vae,dcgan")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--anchors", default=os.path.join(HERE, "..", "..", "shared", "anchors"))
    parser.add_argument("--gentrain", default=os.path.join(HERE, "..", ".build", "release", "gentrain"))
    args = parser.parse_args()
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    results = {}
    for round_index in range(args.rounds):
        for model in args.models.split(","):
            ours = json_lines([args.gentrain, "bench", model, "--ranks", "2", "--rounds", "1", "--json"], env)[-1]
            print(json.dumps(dict(round=round_index, **ours)), flush=True)
            theirs = json_lines([sys.executable, os.path.join(args.anchors, "bench_torch.py"), "ddp", "--models", model.upper()], env)[-1]
            print(json.dumps(dict(round=round_index, **theirs)), flush=True)
            entry = results.setdefault(model, {"gentrain": [], "speedup": [], "comm_ms": [], "ddp": []})
            entry["gentrain"].append(ours["img_s"])
            entry["speedup"].append(ours["speedup"])
            entry["comm_ms"].append(ours["comm_ms"])
            entry["ddp"].append(theirs["img_s"])
    reducer = json_lines([args.gentrain, "bench", "allreduce", "--ranks", "2", "--rounds", "2", "--json"], env)[-1]
    print(json.dumps(reducer), flush=True)
    gloo = json_lines([sys.executable, os.path.join(args.anchors, "bench_torch.py"), "gloo"], env)
    for line in gloo:
        print(json.dumps(line), flush=True)
    for model, entry in results.items():
        median = {key: statistics.median(values) for key, values in entry.items()}
        print(f"{model}: gentrain 2x1 {median['gentrain']:.0f} img/s (speedup {median['speedup']:.2f}x over 1 rank, "
              f"{median['comm_ms']:.1f} ms/step in all-reduces), PyTorch DDP 2x1 {median['ddp']:.0f} img/s: "
              f"gentrain / DDP = {median['gentrain'] / median['ddp']:.2f}")
    print(f"reducer: {reducer['reducer_gb_s']} GB/s against bare MPI_Allreduce {reducer['bare_gb_s']} GB/s "
          f"({100 * reducer['reducer_vs_bare']:.0f}%); gloo all-reduce: "
          + ", ".join(f"{line['MB']} MB {line['GB_s']} GB/s" for line in gloo))


if __name__ == "__main__":
    main()
