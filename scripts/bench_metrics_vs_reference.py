#!/usr/bin/env python3
"""Times gentrain's evaluation against what users would run instead, alternately, in one run.

- Feature extraction: `gentrain bench evaluator` against the same network (conv-BN-ReLU-avgpool x2,
  Dense 64, Dense 10) in PyTorch, eval mode, the same batch and threads, on 10,000 inputs.
- Metrics on 10,000 vs 10,000 rows of 64 features: `gentrain bench metrics` against pytorch-fid's
  FID route (numpy covariances, scipy.linalg.sqrtm) and torch-fidelity's KID route (numpy, 100 subsets
  of 1000), one BLAS thread.

Prints each round's numbers and the median ratios (reference / gentrain: above 1 means gentrain is faster).

    python3 scripts/bench_metrics_vs_reference.py [--rounds 3] [--threads 1]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def gentrain_json(binary, arguments, threads):
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads))
    output = subprocess.run([binary, "bench"] + arguments + ["--json"], check=True, capture_output=True, text=True, env=env).stdout
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")][-1]


def torch_extraction_seconds(threads, batch, images):
    code = f"""
import time, torch, torch.nn as nn
torch.set_num_threads({threads})
net = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(), nn.AvgPool2d(2),
                    nn.Conv2d(16, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU(), nn.AvgPool2d(2),
                    nn.Flatten(), nn.Linear(1568, 64), nn.ReLU(), nn.Dropout(0.2), nn.Linear(64, 10)).eval()
x = torch.rand({images}, 1, 28, 28)
times = []
with torch.inference_mode():
    net(x[:{batch}])
    for _ in range(3):
        start = time.perf_counter()
        for i in range(0, {images}, {batch}):
            net(x[i:i + {batch}])
        times.append(time.perf_counter() - start)
print(sorted(times)[1])
"""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads))
    return float(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, env=env).stdout.split()[-1])


def numpy_metric_milliseconds():
    code = """
import time, numpy as np, scipy.linalg as sl, warnings
warnings.simplefilter("ignore")
rng = np.random.RandomState(3)
a = rng.randn(10000, 64); b = 0.1 + 1.1 * rng.randn(10000, 64)
def fid():
    m1, m2 = a.mean(0), b.mean(0); s1 = np.cov(a, rowvar=False); s2 = np.cov(b, rowvar=False)
    c, _ = sl.sqrtm(s1 @ s2, disp=False)
    return ((m1 - m2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(c.real)
def mmd(x, y):
    d, m = x.shape[1], x.shape[0]
    kxx = (x @ x.T / d + 1) ** 3; kyy = (y @ y.T / d + 1) ** 3; kxy = (x @ y.T / d + 1) ** 3
    return (kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (m * (m - 1)) - 2 * kxy.sum() / m ** 2
def kid():
    state = np.random.RandomState(0)
    return [mmd(a[state.choice(10000, 1000, replace=False)], b[state.choice(10000, 1000, replace=False)]) for _ in range(100)]
def median_ms(f, n):
    times = []
    for _ in range(n):
        start = time.perf_counter(); f(); times.append((time.perf_counter() - start) * 1000)
    return sorted(times)[n // 2]
print(median_ms(fid, 5), median_ms(kid, 1))
"""
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    fid, kid = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, env=env).stdout.split()
    return float(fid), float(kid)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch", type=int, default=250)
    parser.add_argument("--gentrain", default=os.path.join(HERE, "..", ".build", "release", "gentrain"))
    args = parser.parse_args()
    ratios = {"extraction": [], "fid": [], "kid": []}
    for round_index in range(args.rounds):
        ours = gentrain_json(args.gentrain, ["evaluator", "--batch", str(args.batch), "--steps", "40", "--threads", str(args.threads)], args.threads)
        torch_seconds = torch_extraction_seconds(args.threads, args.batch, ours["images"])
        metrics = gentrain_json(args.gentrain, ["metrics", "--steps", "3", "--threads", "1"], 1)
        fid_ms, kid_ms = numpy_metric_milliseconds()
        row = {"round": round_index, "gentrain_img_s": ours["img_s"], "torch_img_s": round(ours["images"] / torch_seconds, 1),
               "gentrain_fid_ms": metrics["fid_ms"], "scipy_fid_ms": round(fid_ms, 2),
               "gentrain_kid_ms": metrics["kid_ms"], "numpy_kid_ms": round(kid_ms, 1)}
        print(json.dumps(row), flush=True)
        ratios["extraction"].append(ours["img_s"] / row["torch_img_s"])
        ratios["fid"].append(fid_ms / metrics["fid_ms"])
        ratios["kid"].append(kid_ms / metrics["kid_ms"])
    for name, values in ratios.items():
        print(f"{name}: reference / gentrain time, median over {args.rounds} rounds: {statistics.median(values):.2f}")


if __name__ == "__main__":
    main()
