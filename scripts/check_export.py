"""Checks `gentrain export` against PyTorch, model by model (scripts/check-export.sh runs it in a venv).

For each job: train 2 tiny steps with gentrain, export safetensors and npz, load the safetensors into the PyTorch
twin (scripts/torch_twins.py) with load_state_dict(strict=True), check that the npz holds the same arrays, then run
gentrain's inference passes (`gentrain forward`) and the twin's on the same inputs and compare to 1e-5.

Usage: check_export.py GENTRAIN_BINARY WORK_FOLDER [JOB ...]   (default: every job of jobs/ below)
Prints one line per model and pass with the largest absolute difference; exits 1 on any failure.
"""
import json
import os
import re
import subprocess
import sys

import numpy as np
import safetensors.numpy
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_twins  # noqa: E402

JOBS = ["autoencoder-fashion", "vae-fashion", "dvae-fashion", "dcgan-bags", "sagan-bags", "evaluator-fashion"]
TOLERANCE = 1e-5
SAMPLES = 4


def gentrain(binary, *arguments):
    result = subprocess.run([binary, *arguments], capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"gentrain {' '.join(arguments)} failed ({result.returncode}):\n{result.stdout}{result.stderr}")
    return result.stdout


def check(binary, folder, job):
    output = os.path.join(folder, job)
    gentrain(binary, "train", f"jobs/{job}.yaml", "--resume", "never", "--set", "train.steps=2", "--set", "train.batch_size=8",
             "--set", "eval.every_epochs=0", "--set", f"output={output}")
    checkpoint = os.path.join(output, "checkpoints", "step-0000000002.gtck")
    exported = {}
    for format in ("safetensors", "npz"):
        exported[format] = os.path.join(folder, f"{job}.{format}")
        gentrain(binary, "export", checkpoint, "--format", format, "--output", exported[format])

    # The safetensors file: numpy reads it, its metadata says "pt", the twin loads it strictly.
    arrays = safetensors.numpy.load_file(exported["safetensors"])
    with open(exported["safetensors"], "rb") as file:
        header = json.loads(file.read(int.from_bytes(file.read(8), "little")))
    failures = []
    if header.get("__metadata__") != {"format": "pt"}:
        failures.append(f"metadata {header.get('__metadata__')}, expected {{'format': 'pt'}}")
    kind = model_kind(job)
    twin = torch_twins.TWINS[kind]()
    try:
        twin.load_state_dict({name: torch.from_numpy(value.copy()) for name, value in arrays.items()}, strict=True)
    except RuntimeError as error:
        return [], failures + [f"load_state_dict(strict=True) refuses the export: {error}"]
    twin.eval()
    # load_state_dict casts silently: the dtypes must be the twin's own (int64 num_batches_tracked).
    for name, value in twin.state_dict().items():
        if str(value.dtype).removeprefix("torch.") != str(arrays[name].dtype):
            failures.append(f"{name}: exported as {arrays[name].dtype}, the twin holds {value.dtype}")

    # The npz holds the same arrays, bit for bit.
    with np.load(exported["npz"]) as archive:
        if sorted(archive.files) != sorted(arrays):
            failures.append(f"npz names {sorted(archive.files)} differ from safetensors names {sorted(arrays)}")
        for name in archive.files:
            if name in arrays and (archive[name].dtype != arrays[name].dtype or not np.array_equal(archive[name], arrays[name])):
                failures.append(f"npz array {name} differs from the safetensors one")

    # The same inputs through gentrain and the twin: one `gentrain forward` per input shape runs every pass that
    # takes it, and the twin must have the same passes.
    random = np.random.default_rng(12)
    lines = []
    passes = twin.passes()
    for sample_shape in sorted({shape for shape, _ in passes.values()}):
        if sample_shape == torch_twins.IMAGE:
            low, high = twin.pixels
            inputs = (low + (high - low) * random.random((SAMPLES, *sample_shape))).astype(np.float32)
        else:
            inputs = random.standard_normal((SAMPLES, *sample_shape)).astype(np.float32)
        label = "x".join(map(str, sample_shape))
        input_path = os.path.join(folder, f"{job}-{label}-input.npy")
        output_path = os.path.join(folder, f"{job}-{label}-output.npz")
        np.save(input_path, inputs)
        gentrain(binary, "forward", checkpoint, "--input", input_path, "--output", output_path)
        with np.load(output_path) as archive:
            outputs = {name: archive[name] for name in archive.files}
        twins = sorted(name for name, (shape, _) in passes.items() if shape == sample_shape)
        if sorted(outputs) != twins:
            failures.append(f"inputs {sample_shape}: gentrain's passes {sorted(outputs)}, the twin's {twins}")
        for name in twins:
            if name not in outputs:
                continue
            ours = outputs[name]
            with torch.no_grad():
                theirs = passes[name][1](torch.from_numpy(inputs)).numpy()
            if ours.shape != theirs.shape:
                failures.append(f"{name}: gentrain's output has shape {ours.shape}, the twin's {theirs.shape}")
                continue
            difference = float(np.max(np.abs(ours - theirs)))
            lines.append(f"{kind} {name}: max abs difference {difference:.2e} (outputs up to {float(np.max(np.abs(theirs))):.3g})")
            if not difference <= TOLERANCE:
                failures.append(f"{name}: max abs difference {difference:.3g} > {TOLERANCE}")
    return lines, failures


def check_gaussian(binary, folder, job="gaussian-heights"):
    """The Gaussian's export against numpy's own fit of data/heights.csv: safetensors.numpy and numpy.load read it,
    `mean` and `covariance` are np.mean and np.cov to 1e-12, and `gentrain forward`'s log_density is numpy's."""
    output = os.path.join(folder, job)
    gentrain(binary, "train", f"jobs/{job}.yaml", "--resume", "never", "--set", f"output={output}")
    checkpoint = os.path.join(output, "checkpoints", "step-0000000001.gtck")
    rows = np.loadtxt("data/heights.csv", delimiter=",", skiprows=1)
    expected = {"mean": rows.mean(axis=0), "covariance": np.cov(rows.T)}
    failures, lines = [], []
    for format, load in (("safetensors", safetensors.numpy.load_file), ("npz", lambda path: dict(np.load(path)))):
        path = os.path.join(folder, f"{job}.{format}")
        gentrain(binary, "export", checkpoint, "--format", format, "--output", path)
        arrays = load(path)
        for name, value in expected.items():
            if name not in arrays or arrays[name].dtype != np.float64 or arrays[name].shape != value.shape:
                failures.append(f"{format}: {name} missing or not float64 {value.shape}")
                continue
            error = float(np.max(np.abs(arrays[name] - value) / np.abs(value).max()))
            lines.append(f"gaussian {format} {name}: relative difference from numpy {error:.1e}")
            if not error <= 1e-12:
                failures.append(f"{format}: {name} differs from numpy's by {error:.3g}")
    input_path, output_path = os.path.join(folder, f"{job}-input.npy"), os.path.join(folder, f"{job}-output.npz")
    np.save(input_path, rows.astype(np.float32))
    gentrain(binary, "forward", checkpoint, "--input", input_path, "--output", output_path)
    with np.load(output_path) as archive:
        ours = archive["log_density"].reshape(-1)
    centred = rows.astype(np.float32).astype(np.float64) - expected["mean"]
    mahalanobis = np.einsum("ij,ij->i", centred, np.linalg.solve(expected["covariance"], centred.T).T)
    theirs = -0.5 * (2 * np.log(2 * np.pi) + np.linalg.slogdet(expected["covariance"])[1] + mahalanobis)
    difference = float(np.max(np.abs(ours - theirs)))
    lines.append(f"gaussian log_density: max abs difference from numpy {difference:.2e}")
    if not difference <= 1e-5:
        failures.append(f"log_density differs from numpy's by {difference:.3g}")
    return lines, failures


def check_rbm(binary, folder, job="rbm-fashion"):
    """The RBM's export under scikit-learn's attribute names (`components` [H, V], `intercept_hidden`, `intercept_visible`,
    `h_samples` [B, H]), the same arrays in safetensors and npz, and `gentrain forward`'s `transform` and `free_energy`
    against scikit-learn's formulas in numpy: sigmoid(v W^T + b_h) and -v.b_v - sum logaddexp(0, v W^T + b_h)."""
    output = os.path.join(folder, job)
    gentrain(binary, "train", f"jobs/{job}.yaml", "--resume", "never", "--set", "train.steps=2", "--set", "eval.every_epochs=0",
             "--set", "model.sample_steps=2", "--set", f"output={output}")
    checkpoint = os.path.join(output, "checkpoints", "step-0000000002.gtck")
    failures, lines, exported = [], [], {}
    for format, load in (("safetensors", safetensors.numpy.load_file), ("npz", lambda path: dict(np.load(path)))):
        path = os.path.join(folder, f"{job}.{format}")
        gentrain(binary, "export", checkpoint, "--format", format, "--output", path)
        exported[format] = load(path)
    arrays = exported["npz"]
    shapes = {"components": (256, 784), "intercept_hidden": (256,), "intercept_visible": (784,), "h_samples": (10, 256)}
    for name, shape in shapes.items():
        if name not in arrays or arrays[name].shape != shape or arrays[name].dtype != np.float32:
            failures.append(f"{name} missing or not float32 {shape}")
        elif not np.array_equal(arrays[name], exported["safetensors"].get(name)):
            failures.append(f"{name} differs between npz and safetensors")
    if failures:
        return lines, failures
    rows = (np.random.default_rng(0).uniform(size=(SAMPLES, 784)) < 0.3).astype(np.float32)
    input_path, output_path = os.path.join(folder, f"{job}-input.npy"), os.path.join(folder, f"{job}-output.npz")
    np.save(input_path, rows)
    gentrain(binary, "forward", checkpoint, "--input", input_path, "--output", output_path)
    weights, hidden_bias, visible_bias = (arrays[name].astype(np.float64) for name in ("components", "intercept_hidden", "intercept_visible"))
    hidden_input = rows @ weights.T + hidden_bias
    expected = {"transform": 1 / (1 + np.exp(-hidden_input)),
                "free_energy": (-(rows @ visible_bias) - np.logaddexp(0, hidden_input).sum(axis=1)).reshape(-1, 1)}
    with np.load(output_path) as archive:
        for name, theirs in expected.items():
            ours = archive[name].astype(np.float64)
            difference = float(np.max(np.abs(ours - theirs)) / max(1.0, float(np.max(np.abs(theirs)))))
            lines.append(f"rbm {name}: max difference from scikit-learn's formula {difference:.2e} (relative to max(1, |output|))")
            if ours.shape != theirs.shape or not difference <= TOLERANCE:
                failures.append(f"{name}: shape {ours.shape} against {theirs.shape}, difference {difference:.3g}")
    return lines, failures


def model_kind(job):
    """model.kind of jobs/<job>.yaml (written `model: {kind: NAME, ...}`)."""
    with open(f"jobs/{job}.yaml") as file:
        found = re.search(r"^model:\s*\{\s*kind:\s*([A-Za-z0-9_-]+)", file.read(), re.MULTILINE)
    if not found:
        sys.exit(f"jobs/{job}.yaml: no line 'model: {{kind: ...}}'")
    return found.group(1)


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    binary, folder, jobs = sys.argv[1], sys.argv[2], sys.argv[3:] or JOBS
    failed = False
    checks = {"gaussian-heights": check_gaussian, "rbm-fashion": check_rbm}
    for job in jobs + (list(checks) if not sys.argv[3:] else []):
        lines, failures = checks.get(job, check)(binary, folder, job)
        for line in lines:
            print(line)
        for failure in failures:
            print(f"FAIL {job}: {failure}")
        failed = failed or bool(failures)
        print(f"{job}: {'FAIL' if failures else 'ok'}", flush=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
