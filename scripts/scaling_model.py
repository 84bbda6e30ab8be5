#!/usr/bin/env python3
"""The scaling model of docs/scaling.md: fits, checks and predicts from scripts/scaling.sh's measurements.

    python3 scripts/scaling_model.py docs/scaling-measurements.json [--update docs/scaling.md]
    python3 scripts/scaling_model.py --self-test

Ring all-reduce of n bytes on p nodes, latency alpha and bandwidth beta:
    T(n, p) = 2 (p - 1) alpha + 2 (p - 1) / p * n / beta
alpha and beta are fitted to the bare MPI_Allreduce sweep on 2 nodes (Open MPI's ring, forced), weighted by
1 / t^2 (relative error, as the sizes span five decades). The reducer's time is the sum of T over its buckets;
it is predicted for 2, 3 and 4 nodes and compared with the reducer's measured times (the check).

A step on p nodes: compute of the slowest rank's share, c0 + c1 * ceil(B / p) (fitted to 1 rank at several batch
sizes), plus the communication, none of which overlaps the backward pass in gentrain's reducer: every gradient
all-reduce of the step (the bench's reduced_floats, in buckets), every sum of statistics (reduced_doubles) and
the trainer's two small per-step collectives (the loss summary and the step timings). Efficiency:
    strong scaling (global batch B fixed):  E(p) = T_step(1) / (p * T_step(p))
    weak scaling (b images per rank):       E(p) = T_compute(b) / T_step(p)
A cluster link adds its one-way wire delay (NIC, PHY, switch) to alpha: this kernel has no netem
(CONFIG_NET_SCH_NETEM is not set), so tbf shapes the bandwidth on the wire and the delay is added here.
Only the standard library.
"""
import argparse
import json
import math
import sys

NODES = [2, 4, 8, 16, 32, 64]
# Cluster links: the tbf rate the bandwidth was measured at, and the one-way delay a real link adds to the software
# stack measured on veth (docs/scaling.md: why these values).
LINKS = {"10gbit": {"name": "10 GbE", "delay_us": 10.0}, "25gbit": {"name": "25 GbE", "delay_us": 5.0}}
SMALL_COLLECTIVES_PER_STEP = 2  # Trainer: the step summary (sum) and the step timings (maximum)
STRONG_BATCH = 128              # the jobs' train.batch_size
WEAK_BATCH = 64                 # images per rank


# MARK: - fits

def weighted_line(xs, ys, weights):
    """Least squares y = a + b x with weights; returns (a, b)."""
    sw = sum(weights)
    mx = sum(w * x for w, x in zip(weights, xs)) / sw
    my = sum(w * y for w, y in zip(weights, ys)) / sw
    sxx = sum(w * (x - mx) ** 2 for w, x in zip(weights, xs))
    sxy = sum(w * (x - mx) * (y - my) for w, x, y in zip(weights, xs, ys))
    b = sxy / sxx if sxx > 0 else 0.0
    return my - b * mx, b


def fit_alpha_beta(sizes_bytes, times_us, p):
    """alpha (us) and beta (bytes/us) of the ring formula from times of one world size p, by relative least squares."""
    a, b = weighted_line(sizes_bytes, times_us, [1 / t ** 2 for t in times_us])
    return a / (2 * (p - 1)), (2 * (p - 1) / p) / b


def ring_us(n_bytes, p, alpha, beta):
    """Ring all-reduce time in microseconds."""
    if p <= 1:
        return 0.0
    return 2 * (p - 1) * alpha + 2 * (p - 1) / p * n_bytes / beta


def small_us(n_bytes, p, alpha, beta):
    """A small collective: recursive doubling, ceil(log2 p) rounds of alpha + n / beta (Open MPI's choice for them)."""
    if p <= 1:
        return 0.0
    return math.ceil(math.log2(p)) * (alpha + n_bytes / beta)


def reducer_us(floats, p, alpha, beta, bucket_floats):
    """The reducer: one ring all-reduce per bucket, in order, none overlapped."""
    full, rest = divmod(floats, bucket_floats)
    return full * ring_us(4 * bucket_floats, p, alpha, beta) + (ring_us(4 * rest, p, alpha, beta) if rest else 0.0)


def fit_compute(points):
    """c0 (ms) + c1 (ms per image) from (batch, ms) points; one batch size only: c0 = 0."""
    batches = sorted({b for b, _ in points})
    if len(batches) == 1:
        return 0.0, sum(ms for _, ms in points) / len(points) / batches[0]
    a, b = weighted_line([b for b, _ in points], [ms for _, ms in points], [1.0] * len(points))
    return max(a, 0.0), b


# MARK: - the step model

def step_ms(model, p, images_per_rank, link):
    """(compute, communication) in ms of one step on p nodes with images_per_rank on the slowest rank."""
    compute = model["c0"] + model["c1"] * images_per_rank
    if p == 1:
        return compute, 0.0
    alpha, beta, bucket = link["alpha"], link["beta"], link["bucket_floats"]
    comm = sum(reducer_us(n, p, alpha, beta, bucket) for n in model["reduced_floats"])
    comm += sum(small_us(8 * n, p, alpha, beta) for n in model["reduced_doubles"])
    comm += SMALL_COLLECTIVES_PER_STEP * small_us(64, p, alpha, beta)
    return compute, comm / 1000


def strong(model, p, link):
    batch = model["strong_batch"]
    compute, comm = step_ms(model, p, math.ceil(batch / p), link)
    one = sum(step_ms(model, 1, batch, link))
    return compute + comm, one / (p * (compute + comm))


def weak(model, p, link):
    compute, comm = step_ms(model, p, WEAK_BATCH, link)
    return compute + comm, compute / (compute + comm)


# MARK: - measurements

def load(path):
    measured = json.load(open(path))
    bucket_floats = int(measured["bucket_mb"] * 1_048_576) // 4
    models = {}
    for line in measured["compute"]:
        model = models.setdefault(line["model"], {"points": [], "reduced_floats": line["reduced_floats"],
                                                  "reduced_doubles": line["reduced_doubles"]})
        model["points"].append((line["batch"], line["ms_median"]))
    for name, model in models.items():
        model["c0"], model["c1"] = fit_compute(model["points"])
        batches = {b for b, _ in model["points"]}
        model["whole_dataset"] = len(batches) == 1 and max(batches) > 1000
        model["strong_batch"] = max(batches) if model["whole_dataset"] else STRONG_BATCH
    sweeps = {}
    for entry in measured["allreduce"]:
        key = (entry["transport"], entry["link"], entry["algorithm"])
        sweeps.setdefault(key, {}).setdefault(entry["result"]["ranks"], []).append(entry["result"])
    fits = {}
    for key, by_ranks in sweeps.items():
        lines = by_ranks.get(2, [])
        if len(lines) >= 2:
            fits[key] = fit_alpha_beta([4 * r["floats"] for r in lines], [r["bare_us"] for r in lines], 2)
    return measured, models, sweeps, fits, bucket_floats


def link_label(transport, link):
    return "shared memory" if transport == "shm" else ("TCP, unshaped veth" if link == "none" else f"TCP, tbf {link}")


def check_rows(sweeps, fits, bucket_floats):
    """(key, ranks, floats, measured reducer us, predicted us, relative error) from the ring fit of each link."""
    rows = []
    for key, by_ranks in sorted(sweeps.items()):
        fit_key = (key[0], key[1], "ring")
        if fit_key not in fits:
            continue
        alpha, beta = fits[fit_key]
        for ranks in sorted(by_ranks):
            for r in sorted(by_ranks[ranks], key=lambda r: r["floats"]):
                predicted = reducer_us(r["floats"], ranks, alpha, beta, int(r["bucket_mb"] * 1_048_576) // 4)
                rows.append((key, ranks, r["floats"], r["reducer_us"], predicted, predicted / r["reducer_us"] - 1))
    return rows


def median(values):
    values = sorted(values)
    n = len(values)
    return values[n // 2] if n % 2 else (values[n // 2 - 1] + values[n // 2]) / 2


def markdown(path):
    measured, models, sweeps, fits, bucket_floats = load(path)
    out = []
    out.append(f"Measured {measured['date']} on {measured['cpu']} (2 cores), kernel {measured['kernel']}; "
               f"reducer buckets {measured['bucket_mb']:g} MB.\n")
    out.append("### Compute per step, 1 rank x 1 thread (fit c0 + c1 * batch)\n")
    out.append("| model | batch: ms/step | c0 ms | c1 ms/image | floats all-reduced per step (calls) |")
    out.append("| --- | --- | ---: | ---: | --- |")
    for name, m in models.items():
        points = ", ".join(f"{b}: {ms:.1f}" for b, ms in sorted(m["points"]))
        calls = " + ".join(f"{n:,}" for n in m["reduced_floats"]) or "0"
        if m["reduced_doubles"]:
            calls += " floats; doubles " + " + ".join(f"{n:,}" for n in m["reduced_doubles"])
        out.append(f"| {name} | {points} | {m['c0']:.2f} | {m['c1']:.3f} | {calls} |")
    out.append("\n### All-reduce constants (ring formula fitted to the bare MPI_Allreduce sweep on 2 ranks, ring forced)\n")
    out.append("| transport | alpha us | beta GB/s | beta Gbit/s |")
    out.append("| --- | ---: | ---: | ---: |")
    for key, (alpha, beta) in sorted(fits.items()):
        if key[2] == "ring":
            out.append(f"| {link_label(key[0], key[1])} | {alpha:.1f} | {beta / 1000:.2f} | {beta * 8 / 1000:.1f} |")
    rows = check_rows(sweeps, fits, bucket_floats)
    out.append("\n### Check: the reducer's measured all-reduce time against the model (fit on 2 ranks only)\n")
    out.append("Each cell: measured ms / predicted ms (error). 3 and 4 nodes share 2 cores.\n")
    sizes = sorted({r[2] for r in rows})
    out.append("| transport | algorithm | nodes | " + " | ".join(f"{n:,} floats" for n in sizes) + " | median abs error |")
    out.append("| --- | --- | ---: |" + " ---: |" * len(sizes) + " ---: |")
    groups = {}
    for row in rows:
        groups.setdefault((row[0], row[1]), []).append(row)
    summary = {}
    for (key, ranks), group in sorted(groups.items(), key=lambda g: (g[0][0][0] != "tcp", g[0][0][1], g[0][0][2] != "ring", g[0][1])):
        cells = {r[2]: r for r in group}
        text = " | ".join(f"{cells[n][3] / 1000:.3f} / {cells[n][4] / 1000:.3f} ({100 * cells[n][5]:+.0f}%)" if n in cells else ""
                          for n in sizes)
        error = median([abs(r[5]) for r in group])
        summary.setdefault((key[0], key[2], ranks > 2), []).extend(abs(r[5]) for r in group)
        out.append(f"| {link_label(key[0], key[1])} | {key[2]} | {ranks} | {text} | {100 * error:.0f}% |")
    out.append("")
    for (transport, algorithm, beyond), errors in sorted(summary.items()):
        out.append(f"- {transport}, {algorithm} algorithm, {'3-4 nodes (out of sample)' if beyond else '2 nodes (the fit)'}: "
                   f"median abs error {100 * median(errors):.0f}%, max {100 * max(errors):.0f}% over {len(errors)} sizes x links")
    for link, spec in LINKS.items():
        key = ("tcp", link, "ring")
        if key not in fits:
            continue
        alpha, beta = fits[key]
        cluster = {"alpha": alpha + spec["delay_us"], "beta": beta, "bucket_floats": bucket_floats}
        out.append(f"\n### Predicted on {spec['name']}: alpha {alpha:.1f} + {spec['delay_us']:.0f} us wire = "
                   f"{cluster['alpha']:.1f} us, beta {beta / 1000:.2f} GB/s (measured on tbf {link})\n")
        for mode, function, label in [("strong", strong, f"global batch {STRONG_BATCH} (whole data set for EM) split over the nodes"),
                                      ("weak", weak, f"{WEAK_BATCH} images per node")]:
            out.append(f"{mode.capitalize()} scaling, {label}: step ms (efficiency)\n")
            out.append("| model | " + " | ".join(f"{p} nodes" for p in NODES) + " |")
            out.append("| --- |" + " ---: |" * len(NODES))
            for name, m in models.items():
                if mode == "weak" and m["whole_dataset"]:
                    continue
                cells = []
                for p in NODES:
                    total, efficiency = function(m, p, cluster)
                    cells.append(f"{total:.1f} ({100 * efficiency:.0f}%)")
                out.append(f"| {name} | " + " | ".join(cells) + " |")
            out.append("")
    return "\n".join(out)


def update(document, text):
    begin, end = "<!-- scaling_model.py: begin -->", "<!-- scaling_model.py: end -->"
    content = open(document).read()
    if begin not in content or end not in content:
        sys.exit(f"{document}: no '{begin}' ... '{end}' markers")
    head, rest = content.split(begin, 1)
    _, tail = rest.split(end, 1)
    with open(document, "w") as f:
        f.write(head + begin + "\n" + text + "\n" + end + tail)


# MARK: - self-test

def self_test():
    # The ring formula at known points, and p = 1 costs nothing.
    assert ring_us(1000, 2, 5.0, 100.0) == 2 * 5 + 1000 / 100
    assert abs(ring_us(1000, 4, 5.0, 100.0) - (6 * 5 + 1.5 * 10)) < 1e-12
    assert ring_us(1000, 1, 5.0, 100.0) == 0.0 and small_us(8, 1, 5.0, 100.0) == 0.0
    assert small_us(800, 8, 5.0, 100.0) == 3 * (5 + 8)
    # Buckets: 10 floats in buckets of 4 = two full and one of 2.
    assert abs(reducer_us(10, 2, 1.0, 1.0, 4) - (2 * (2 + 16) + (2 + 8))) < 1e-12
    # The fit recovers alpha and beta from exact ring times of p = 3 over five decades, and from noisy ones within 3%.
    sizes = [256 * 10 ** k for k in range(6)]
    alpha, beta = fit_alpha_beta(sizes, [ring_us(n, 3, 40.0, 1200.0) for n in sizes], 3)
    assert abs(alpha - 40) < 1e-6 and abs(beta - 1200) < 1e-6, (alpha, beta)
    noise = [1.02, 0.98, 1.01, 0.99, 1.02, 0.985]
    alpha, beta = fit_alpha_beta(sizes, [ring_us(n, 2, 40.0, 1200.0) * e for n, e in zip(sizes, noise)], 2)
    assert abs(alpha / 40 - 1) < 0.03 and abs(beta / 1200 - 1) < 0.03, (alpha, beta)
    # Compute: a line through three batch sizes; one batch size (EM on the whole data) is per image only.
    assert fit_compute([(16, 10.0), (64, 34.0), (128, 66.0)]) == (2.0, 0.5)
    assert fit_compute([(60000, 120.0), (60000, 120.0)]) == (0.0, 0.002)
    # Strong scaling: one node is 100% efficient; with free communication and no fixed cost p nodes are too.
    model = {"c0": 0.0, "c1": 1.0, "reduced_floats": [1000], "reduced_doubles": [], "strong_batch": 128}
    free = {"alpha": 0.0, "beta": 1e30, "bucket_floats": 1 << 20}
    assert strong(model, 1, free)[1] == 1.0 and abs(strong(model, 64, free)[1] - 1) < 1e-12
    assert abs(weak(model, 64, free)[1] - 1) < 1e-12
    # A fixed cost c0 caps the strong-scaling efficiency: (c0 + B c1) / (p (c0 + B c1 / p)).
    model["c0"] = 8.0
    assert abs(strong(model, 4, free)[1] - 136 / (4 * 40)) < 1e-12
    # Communication lowers the efficiency and grows with p in the latency term.
    slow = {"alpha": 100.0, "beta": 1000.0, "bucket_floats": 1 << 20}
    assert strong(model, 2, slow)[1] < strong(model, 2, free)[1]
    assert step_ms(model, 64, 2, slow)[1] > step_ms(model, 2, 64, slow)[1]
    print("scaling_model.py self-test: ok")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("measurements", nargs="?")
    parser.add_argument("--update", metavar="DOC", help="replace the generated section of DOC (between its markers)")
    parser.add_argument("--self-test", action="store_true")
    args = parser.parse_args()
    if args.self_test:
        return self_test()
    if not args.measurements:
        parser.error("a measurements file (scripts/scaling.sh writes docs/scaling-measurements.json), or --self-test")
    text = markdown(args.measurements)
    if args.update:
        update(args.update, text)
    else:
        print(text)


if __name__ == "__main__":
    main()
