#!/usr/bin/env python3
"""The scaling model of docs/scaling.md: fits, checks and predicts from scripts/scaling.sh's measurements.

    python3 scripts/scaling_model.py docs/scaling-measurements.json [--update docs/scaling.md]
    python3 scripts/scaling_model.py --self-test

Ring all-reduce of n bytes on p nodes, latency alpha and bandwidth beta:
    T(n, p) = 2 (p - 1) alpha + 2 (p - 1) / p * n / beta
alpha is fitted to the small sizes of the bare MPI_Allreduce sweep on 2 nodes (Open MPI's ring, forced), beta to its
large sizes (those a step sends) with alpha fixed, both by relative least squares. The reducer's time is the sum of T
over its buckets. The namespace nodes of the check share the host's 2 cores, so there every ring round of p > 2 nodes
takes ceil(p / 2) turns of a core, times a host factor h fitted to the bare sweep on 3 and 4 nodes:
    T_host(n, p) = h ceil(p / cores) T(n, p)   (p > cores; T on p <= cores)
The check compares the reducer's measured times on 2, 3 and 4 nodes with T (2 nodes) and T_host (3, 4 nodes).

A step on p cluster nodes: compute of the slowest rank's share, c0 + c1 * ceil(B / p) (fitted to 1 rank at several
batch sizes), plus the communication, none of which overlaps the backward pass in gentrain's reducer: every gradient
all-reduce of the step (the bench's reduced_floats, in buckets), every sum of statistics (reduced_doubles) and the
trainer's one per-step summary all-reduce (losses, flags and every rank's two times: 8 (7 + 2 p) bytes). Efficiency:
    strong scaling (global batch B fixed):  E(p) = T_step(1) / (p * T_step(p))
    weak scaling (b images per rank):       E(p) = T_compute(b) / T_step(p)
A cluster link's beta is its payload rate (line rate x 1448 / 1538, TCP over Ethernet at MTU 1500): the veth links
here are limited by the CPU (about 9.3 Gbit/s), so tbf at 25 Gbit/s cannot show that rate. Its alpha is the measured
software path plus the link's one-way wire delay: this kernel has no netem (CONFIG_NET_SCH_NETEM is not set), so tbf
shapes the rate and the delay is added here.
Only the standard library.
"""
import argparse
import json
import math
import sys

NODES = [2, 4, 8, 16, 32, 64]
PREDICTED = ["autoencoder", "vae", "dcgan"]  # the models whose steps are predicted on a cluster
# Cluster links: the tbf rate they were emulated at, the line rate, and the one-way delay a real link adds to the
# software stack measured on veth (docs/scaling.md: why these values).
LINKS = {"10gbit": {"name": "10 GbE", "gbit": 10.0, "delay_us": 10.0},
         "25gbit": {"name": "25 GbE", "gbit": 25.0, "delay_us": 5.0}}
PAYLOAD_PER_WIRE_BYTE = 1448 / 1538  # TCP payload per Ethernet frame at MTU 1500 (timestamps on), with preamble and gap
CORES = 2                            # the host's cores, which carry every namespace node's TCP stack
SMALL_FLOATS = 16384                 # the sweep's sizes up to this fit alpha ...
LARGE_FLOATS = 262144                # ... and from this on beta (the buckets and a model's messages are larger)
SUMMARY_DOUBLES = 7                  # Trainer's step summary: up to 3 losses and 4 flags, plus 2 times per rank
STRONG_BATCH = 128                   # the jobs' train.batch_size
WEAK_BATCH = 64                      # images per rank


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


def fit_alpha_beta(sizes_bytes, times_us, p, small_bytes=4 * SMALL_FLOATS, large_bytes=4 * LARGE_FLOATS):
    """alpha (us) and beta (bytes/us) of the ring formula from times of one world size p: alpha from the line through
    the sizes up to small_bytes, beta from the sizes from large_bytes on with alpha fixed, both by relative least squares
    (the per-byte cost is not one constant over five decades: messages that stay in the caches go faster)."""
    small = [(n, t) for n, t in zip(sizes_bytes, times_us) if n <= small_bytes]
    large = [(n, t) for n, t in zip(sizes_bytes, times_us) if n >= large_bytes]
    if len(small) < 2 or not large:
        small = large = list(zip(sizes_bytes, times_us))
    a, _ = weighted_line([n for n, _ in small], [t for _, t in small], [1 / t ** 2 for _, t in small])
    alpha = max(a, 0.0) / (2 * (p - 1))
    # Minimise the sum of (2 (p - 1) alpha / t + k n / (beta t) - 1)^2 over u = 1 / beta, with k = 2 (p - 1) / p.
    xs = [2 * (p - 1) / p * n / t for n, t in large]
    ys = [1 - 2 * (p - 1) * alpha / t for _, t in large]
    return alpha, sum(x * x for x in xs) / sum(x * y for x, y in zip(xs, ys))


def host_factor(p, h, cores=CORES):
    """The namespace nodes' slow-down on the host: p nodes on `cores` cores take ceil(p / cores) turns per ring round,
    times h (context switches, the softirqs of several stacks on one core)."""
    return 1.0 if p <= cores else h * math.ceil(p / cores)


def fit_host(points, alpha, beta):
    """h from (floats, p, measured us) of the bare ring beyond CORES nodes: the geometric mean of measured / model."""
    logs = [math.log(t / (math.ceil(p / CORES) * ring_us(4 * n, p, alpha, beta))) for n, p, t in points]
    return math.exp(sum(logs) / len(logs)) if logs else 1.0


def wire_beta(gbit):
    """A link's TCP payload rate in bytes/us."""
    return gbit * 1000 / 8 * PAYLOAD_PER_WIRE_BYTE


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
    comm += small_us(8 * (SUMMARY_DOUBLES + 2 * p), p, alpha, beta)
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

COMPUTE_FIELDS = ["model", "batch", "threads", "steps", "convolution", "ms_median", "ms_min", "ms_max", "gflop_step",
                  "reduced_floats", "reduced_doubles"]


def compact(compute_lines, allreduce_lines):
    """The measurements file's two lists from scaling.sh's JSON lines: a compute line's fields the model uses, and per
    (transport, link, algorithm, ranks) one entry with the sweep's sizes and times in columns."""
    compute = [{k: line[k] for k in COMPUTE_FIELDS if k in line} for line in compute_lines]
    groups = {}
    for entry in allreduce_lines:
        r = entry["result"]
        key = (entry["transport"], entry["link"], entry["algorithm"], r["ranks"])
        group = groups.setdefault(key, {"transport": key[0], "link": key[1], "algorithm": key[2], "ranks": key[3],
                                        "bucket_mb": r["bucket_mb"], "floats": [], "bare_us": [], "reducer_us": []})
        for field in ("floats", "bare_us", "reducer_us"):
            group[field].append(r[field])
    return compute, list(groups.values())


def load(path):
    try:
        measured = json.load(open(path))
    except (OSError, ValueError) as error:
        sys.exit(f"{path}: not a measurements file of scripts/scaling.sh ({error})")
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
    for group in measured["allreduce"]:
        key = (group["transport"], group["link"], group["algorithm"])
        sweeps.setdefault(key, {})[group["ranks"]] = [
            {"floats": n, "bare_us": bare, "reducer_us": reducer, "ranks": group["ranks"], "bucket_mb": group["bucket_mb"]}
            for n, bare, reducer in zip(group["floats"], group["bare_us"], group["reducer_us"])]
    fits = {}  # (transport, link, algorithm): (alpha, beta, h)
    for key, by_ranks in sweeps.items():
        lines = by_ranks.get(2, [])
        if len(lines) >= 2:
            alpha, beta = fit_alpha_beta([4 * r["floats"] for r in lines], [r["bare_us"] for r in lines], 2)
            beyond = [(r["floats"], p, r["bare_us"]) for p, rs in by_ranks.items() if p > CORES for r in rs]
            fits[key] = (alpha, beta, fit_host(beyond, alpha, beta))
    return measured, models, sweeps, fits, bucket_floats


LINK_ORDER = {"none": 0, "10gbit": 1, "25gbit": 2}


def link_label(transport, link):
    return "shared memory" if transport == "shm" else ("TCP, unshaped veth" if link == "none" else f"TCP, tbf {link}")


def check_rows(sweeps, fits, bucket_floats):
    """(key, ranks, floats, measured reducer us, predicted us, relative error, error without the host term) from the
    ring fit of each link."""
    rows = []
    for key, by_ranks in sorted(sweeps.items()):
        fit_key = (key[0], key[1], "ring")
        if fit_key not in fits:
            continue
        alpha, beta, h = fits[fit_key]
        for ranks in sorted(by_ranks):
            for r in sorted(by_ranks[ranks], key=lambda r: r["floats"]):
                ring = reducer_us(r["floats"], ranks, alpha, beta, int(r["bucket_mb"] * 1_048_576) // 4)
                predicted = host_factor(ranks, h) * ring
                rows.append((key, ranks, r["floats"], r["reducer_us"], predicted, predicted / r["reducer_us"] - 1,
                             ring / r["reducer_us"] - 1))
    return rows


def median(values):
    values = sorted(values)
    n = len(values)
    return values[n // 2] if n % 2 else (values[n // 2 - 1] + values[n // 2]) / 2


def markdown(path):
    measured, models, sweeps, fits, bucket_floats = load(path)
    out = []
    out.append(f"Measured {measured['date']} on {measured['cpu']} ({CORES} cores), kernel {measured['kernel']}; "
               f"reducer buckets {measured['bucket_mb']:g} MB; medians of 40 calls (all-reduce) and 10 steps (compute).\n")
    out.append("### Compute per step, 1 rank x 1 thread (fit c0 + c1 * batch)\n")
    out.append("| model | batch: ms/step | c0 ms | c1 ms/image | floats all-reduced per step (calls) |")
    out.append("| --- | --- | ---: | ---: | --- |")
    for name, m in models.items():
        points = ", ".join(f"{b}: {ms:.1f}" for b, ms in sorted(m["points"]))
        def listed(counts):  # a few calls one by one, many as their number and total
            return " + ".join(f"{n:,}" for n in counts) if len(counts) <= 6 else f"{len(counts)} calls, {sum(counts):,} in all"
        calls = listed(m["reduced_floats"]) or "0"
        if m["reduced_doubles"]:
            calls += " floats; doubles: " + listed(m["reduced_doubles"])
        out.append(f"| {name} | {points} | {m['c0']:.2f} | {m['c1']:.3f} | {calls} |")
    out.append(f"\n### All-reduce constants (bare MPI_Allreduce, ring forced: alpha from <= {SMALL_FLOATS:,} floats and "
               f"beta from >= {LARGE_FLOATS:,} floats on 2 nodes; h from 3 and 4 nodes)\n")
    out.append("| transport | alpha us | beta GB/s | beta Gbit/s | host factor h |")
    out.append("| --- | ---: | ---: | ---: | ---: |")
    for key, (alpha, beta, h) in sorted(fits.items()):
        if key[2] == "ring":
            out.append(f"| {link_label(key[0], key[1])} | {alpha:.1f} | {beta / 1000:.2f} | {beta * 8 / 1000:.1f} | {h:.2f} |")
    rows = check_rows(sweeps, fits, bucket_floats)
    out.append("\n### Check: the reducer's measured all-reduce time against the model\n")
    out.append(f"Each cell: measured ms / predicted ms (error). 2 nodes: the ring formula; 3 and 4 nodes: times the host "
               f"term h ceil(p / {CORES}) (the nodes share {CORES} cores). The `default` rows are Open MPI's own choice of "
               "algorithm against the ring's prediction.\n")
    sizes = sorted({r[2] for r in rows})
    out.append("| transport | algorithm | nodes | " + " | ".join(f"{n:,} floats" for n in sizes) + " | median abs error |")
    out.append("| --- | --- | ---: |" + " ---: |" * len(sizes) + " ---: |")
    groups = {}
    for row in rows:
        groups.setdefault((row[0], row[1]), []).append(row)
    summary = {}
    order = lambda g: (g[0][0][0] != "tcp", LINK_ORDER.get(g[0][0][1], 9), g[0][0][2] != "ring", g[0][1])
    for (key, ranks), group in sorted(groups.items(), key=order):
        cells = {r[2]: r for r in group}
        text = " | ".join(f"{cells[n][3] / 1000:.3f} / {cells[n][4] / 1000:.3f} ({100 * cells[n][5]:+.0f}%)" if n in cells else ""
                          for n in sizes)
        error = median([abs(r[5]) for r in group])
        summary.setdefault((key, ranks), []).extend((r[5], r[6]) for r in group)
        out.append(f"| {link_label(key[0], key[1])} | {key[2]} | {ranks} | {text} | {100 * error:.0f}% |")
    out.append("\nThe error per node count, over the sizes (2 nodes: the constants' own data; 3-4 nodes: alpha and beta "
               "from 2 nodes, h from the same nodes' bare sweep, checked on the reducer's times):\n")
    out.append("| transport | algorithm | nodes | median abs error | median error | range | without the host term: median abs error |")
    out.append("| --- | --- | ---: | ---: | ---: | --- | ---: |")
    for ((transport, link, algorithm), ranks), pairs in sorted(summary.items(), key=lambda e: (
            e[0][0][0] != "tcp", e[0][0][2] != "ring", LINK_ORDER.get(e[0][0][1], 9), e[0][1])):
        errors, ring_errors = [e for e, _ in pairs], [e for _, e in pairs]
        out.append(f"| {link_label(transport, link)} | {algorithm} | {ranks} | {100 * median([abs(e) for e in errors]):.0f}% | "
                   f"{100 * median(errors):+.0f}% | {100 * min(errors):+.0f}% ... {100 * max(errors):+.0f}% | "
                   f"{100 * median([abs(e) for e in ring_errors]):.0f}% |")
    predicted = [name for name in PREDICTED if name in models]
    software = fits.get(("tcp", "none", "ring"))
    for link, spec in LINKS.items():
        if software is None:
            break
        alpha, cpu_beta, _ = software
        beta = wire_beta(spec["gbit"])
        cluster = {"alpha": alpha + spec["delay_us"], "beta": beta, "bucket_floats": bucket_floats}
        shaped = fits.get(("tcp", link, "ring"))
        through_tbf = f"; through tbf {link} {shaped[1] / 1000:.2f} GB/s" if shaped else ""
        out.append(f"\n### Predicted on {spec['name']}\n")
        out.append(f"alpha {alpha:.1f} us (the software path, measured on unshaped veth) + {spec['delay_us']:.0f} us wire = "
                   f"{cluster['alpha']:.1f} us; beta {beta / 1000:.2f} GB/s, the link's payload rate ({spec['gbit']:g} Gbit/s "
                   f"x 1448/1538), derived, not measured (unshaped veth {cpu_beta / 1000:.2f} GB/s: one core's TCP path"
                   f"{through_tbf}).\n")
        for mode, function, label in [("strong", strong, f"global batch {STRONG_BATCH} split over the nodes"),
                                      ("weak", weak, f"{WEAK_BATCH} images per node")]:
            out.append(f"{mode.capitalize()} scaling, {label}: step ms (efficiency)\n")
            out.append("| model | 1 node | " + " | ".join(f"{p} nodes" for p in NODES) + " |")
            out.append("| --- | ---: |" + " ---: |" * len(NODES))
            for name in predicted:
                m = models[name]
                one = sum(step_ms(m, 1, m["strong_batch"] if mode == "strong" else WEAK_BATCH, cluster))
                cells = []
                for p in NODES:
                    total, efficiency = function(m, p, cluster)
                    cells.append(f"{total:.1f} ({100 * efficiency:.0f}%)")
                out.append(f"| {name} | {one:.1f} | " + " | ".join(cells) + " |")
            out.append("")
        if cpu_beta < 0.9 * beta:
            cpu = dict(cluster, beta=cpu_beta)
            text = ", ".join(f"{name} {100 * strong(models[name], 64, cpu)[1]:.0f}% (not {100 * strong(models[name], 64, cluster)[1]:.0f}%)"
                             for name in predicted)
            out.append(f"With a node's TCP path as slow as one core here ({cpu_beta / 1000:.2f} GB/s), {spec['name']} "
                       f"would give, strong scaling on 64 nodes: {text}.\n")
    return "\n".join(out)


def update(document, text):
    begin, end = "<!-- scaling_model.py: begin -->", "<!-- scaling_model.py: end -->"
    try:
        content = open(document).read()
    except OSError as error:
        sys.exit(f"{document}: cannot read it ({error.strerror})")
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
    # A middle size twice as fast (cache-resident) changes neither constant: it is in neither range.
    times = [ring_us(n, 2, 40.0, 1200.0) / (2 if n == 256_000 else 1) for n in sizes]
    alpha, beta = fit_alpha_beta(sizes, times, 2, small_bytes=25_600, large_bytes=2_560_000)
    assert abs(alpha - 40) < 1e-6 and abs(beta - 1200) < 1e-6, (alpha, beta)
    # The host term: 2 cores carry 2 nodes as the ring formula says, 3 and 4 nodes in 2 turns, 5 in 3; h is recovered.
    assert host_factor(2, 1.5) == 1.0 and host_factor(3, 1.5) == 3.0 and host_factor(4, 1.0) == 2.0
    assert host_factor(5, 1.0) == 3.0
    points = [(n, p, 1.3 * math.ceil(p / 2) * ring_us(4 * n, p, 40.0, 1200.0)) for n in (64, 65536) for p in (3, 4)]
    assert abs(fit_host(points, 40.0, 1200.0) - 1.3) < 1e-12
    # A link's payload rate: 10 Gbit/s carries 1177 bytes of TCP payload per microsecond.
    assert abs(wire_beta(10) - 1250 * 1448 / 1538) < 1e-9
    # The step summary: one small all-reduce of 8 (7 + 2 p) bytes, the only communication of a model without gradients.
    quiet = {"c0": 0.0, "c1": 1.0, "reduced_floats": [], "reduced_doubles": [], "strong_batch": 128}
    assert abs(step_ms(quiet, 4, 1, {"alpha": 5.0, "beta": 100.0, "bucket_floats": 4})[1] - 2 * (5 + 8 * 15 / 100) / 1000) < 1e-12
    # The measurements file's columns: two sizes of one run in one entry, per-call fields dropped.
    line = {"transport": "tcp", "link": "none", "algorithm": "ring"}
    results = [dict(line, result={"floats": n, "ranks": 2, "bucket_mb": 4, "bare_us": t, "reducer_us": t + 1, "bare_ms": 0})
               for n, t in ((64, 40.0), (1024, 60.0))]
    compute, groups = compact([{"model": "rbm", "batch": 16, "ms_median": 1.4, "img_s": 11000}], results)
    assert compute == [{"model": "rbm", "batch": 16, "ms_median": 1.4}]
    assert groups == [dict(line, ranks=2, bucket_mb=4, floats=[64, 1024], bare_us=[40.0, 60.0], reducer_us=[41.0, 61.0])]
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
