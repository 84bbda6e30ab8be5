#!/usr/bin/env python3
"""Times gentrain and PyTorch (CPU) on the same models, batch and threads, alternately, in one run.

The machine's speed drifts in episodes of ~20 s, so the programs are run A B A B ... and each
round's medians are compared within the round. Prints every JSON line it gets, then a table of the
median over rounds of each program's ms/step and the ratio (PyTorch / gentrain: above 1 means gentrain
is faster), and each round's single-thread sgemm rate (`gentrain bench sgemm`, the yardstick of the
conv-heavy target) beside gentrain's 1-thread GFLOP/s from the same round. PyTorch comes from PyPI (`pip install torch`); its reference models and timing script are
`bench_torch.py` and `torch_models.py` in the anchors folder.

    python3 scripts/bench_vs_pytorch.py [--rounds 2] [--threads 1,2] [--models ae,vae,dcgan]
                                        [--anchors ../shared/anchors] [--iters 10]
                                        [--algorithms onednn,im2col]

`--algorithms` runs gentrain once per convolution algorithm (`GENTRAIN_CONVOLUTION`); the first is the one
the ratios use.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

TORCH_NAMES = {"ae": "AE", "vae": "VAE", "dcgan": "DCGAN"}


def run_json(command, env=None):
    output = subprocess.run(command, check=True, capture_output=True, text=True, env=env).stdout
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    return lines[-1]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--models", default="ae,vae,dcgan")
    parser.add_argument("--anchors", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared", "anchors"))
    parser.add_argument("--gentrain", default=os.path.join(os.path.dirname(__file__), "..", ".build", "release", "gentrain"))
    parser.add_argument("--iters", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--algorithms", default="onednn")
    args = parser.parse_args()
    algorithms = args.algorithms.split(",")
    torch_script = os.path.join(args.anchors, "bench_torch.py")
    if not os.path.exists(torch_script):
        sys.exit(f"{torch_script} not found: pass --anchors FOLDER")
    results = {}
    yardstick = []
    for round_index in range(args.rounds):
        sgemm = run_json([args.gentrain, "bench", "sgemm", "--threads", "1", "--json"])
        sgemm["round"] = round_index
        print(json.dumps(sgemm), flush=True)
        yardstick.append(sgemm["gflops_median"])
        for model in args.models.split(","):
            for threads in [int(t) for t in args.threads.split(",")]:
                gentrain = [args.gentrain, "bench", model, "--batch", str(args.batch), "--steps", str(args.iters),
                            "--warmup", str(args.warmup), "--threads", str(threads), "--json"]
                programs = {f"gentrain {algorithm}": (gentrain, algorithm) for algorithm in algorithms}
                programs.update({
                    "torch NCHW": [sys.executable, torch_script, "steps", "--threads", str(threads), "--models", TORCH_NAMES[model],
                                   "--batch", str(args.batch), "--iters", str(args.iters), "--warmup", str(args.warmup)],
                    "torch NHWC": [sys.executable, torch_script, "steps", "--threads", str(threads), "--models", TORCH_NAMES[model],
                                   "--batch", str(args.batch), "--iters", str(args.iters), "--warmup", str(args.warmup), "--channels-last"],
                })
                for name, command in programs.items():
                    environment = None
                    if isinstance(command, tuple):
                        command, algorithm = command
                        environment = dict(os.environ, GENTRAIN_CONVOLUTION=algorithm)
                    result = run_json(command, environment)
                    result["program"] = name
                    result["round"] = round_index
                    print(json.dumps(result), flush=True)
                    results.setdefault((model, threads, name), []).append(result)
    print()
    ours_columns = " | ".join(f"gentrain {algorithm} ms" for algorithm in algorithms)
    print(f"| model | threads | {ours_columns} | torch NCHW ms | torch NHWC ms | torch NCHW / gentrain | best torch / gentrain"
          " | gentrain GFLOP/s | gentrain peak RSS MB |")
    print("| --- " * (8 + len(algorithms)) + "|")
    for model in args.models.split(","):
        for threads in [int(t) for t in args.threads.split(",")]:
            def median(name, key="ms_median"):
                return statistics.median(r[key] for r in results[(model, threads, name)])
            ours = [median(f"gentrain {algorithm}") for algorithm in algorithms]
            nchw, nhwc = median("torch NCHW"), median("torch NHWC")
            first = f"gentrain {algorithms[0]}"
            gflops = median(first, "gflops_achieved")
            rss = max(r["peak_rss_mb"] for r in results[(model, threads, first)])
            times = " | ".join(f"{value:.0f}" for value in ours)
            print(f"| {model} | {threads} | {times} | {nchw:.0f} | {nhwc:.0f} | {nchw / ours[0]:.2f} | {min(nchw, nhwc) / ours[0]:.2f}"
                  f" | {gflops:.1f} | {rss:.0f} |")
    print()
    sgemm = statistics.median(yardstick)
    print(f"single-thread sgemm (1024^3): median {sgemm:.1f} GFLOP/s over rounds {yardstick}")
    for model in args.models.split(","):
        if (model, 1, f"gentrain {algorithms[0]}") in results:
            ratios = [r["gflops_achieved"] / y for r, y in zip(results[(model, 1, f"gentrain {algorithms[0]}")], yardstick)]
            print(f"{model} 1 thread: GFLOP/s / sgemm GFLOP/s per round {[round(x, 3) for x in ratios]}, median {statistics.median(ratios):.3f}")


if __name__ == "__main__":
    main()
