"""Reads a real gentrain run with TensorBoard's own reader (scripts/check-tensorboard.sh runs it in a venv).

A VAE trains on 2 ranks (mpirun) on a tiny IDX folder (96 training and 32 test images of Fashion-MNIST): 6 steps per
epoch, 3 epochs, an evaluation (validation loss and a sample grid) after each. The first start stops at step 10
(--stop-at-step, checkpoints at 4, 8 and 10); its event file is then cut inside its last record, as a kill would leave
it, and the run resumes from the checkpoint of step 8, so that steps 9 and 10 are trained twice: metrics.jsonl drops
their first lines and the second event file's SessionLog START at step 9 must make TensorBoard drop them too.

TensorBoard's EventAccumulator (no size limits) must then show, for every tag, as many scalars as metrics.jsonl has
lines carrying its key (tag `<section>/<key>`, section `train` or the line's `event`), each step once, the same values;
the sample grids of each evaluation and the final pictures as PNG of the size their summary states and of the PNG file
beside them; the resolved job as text; its hyperparameters. A copy with one changed byte must make TensorBoard's strict
record reader raise DataLossError.

Usage: check_tensorboard.py GENTRAIN_BINARY WORK_FOLDER
"""
import gzip
import io
import json
import os
import shutil
import struct
import subprocess
import sys

from PIL import Image
from tensorboard.backend.event_processing import event_accumulator
from tensorboard.compat.proto import event_pb2
from tensorboard.compat.tensorflow_stub import errors, pywrap_tensorflow
from tensorboard.plugins.hparams import plugin_data_pb2

FASHION = "/usr/share/datasets/fashion-mnist"
TRAIN_IMAGES, TEST_IMAGES = 96, 32
failures = []


def expect(condition, message):
    if not condition:
        failures.append(message)


def write_tiny_dataset(folder):
    """The first images of each split, as gzip-compressed IDX files."""
    os.makedirs(folder, exist_ok=True)
    for split, count in (("train", TRAIN_IMAGES), ("t10k", TEST_IMAGES)):
        with gzip.open(f"{FASHION}/{split}-images-idx3-ubyte.gz") as file:
            images = file.read(16 + count * 784)
        with gzip.open(f"{FASHION}/{split}-labels-idx1-ubyte.gz") as file:
            labels = file.read(8 + count)
        with gzip.open(f"{folder}/{split}-images-idx3-ubyte.gz", "wb") as file:
            file.write(images[:4] + struct.pack(">I", count) + images[8:])
        with gzip.open(f"{folder}/{split}-labels-idx1-ubyte.gz", "wb") as file:
            file.write(labels[:4] + struct.pack(">I", count) + labels[8:])


def train(binary, data, output, *extra):
    environment = dict(os.environ)
    if os.getuid() == 0:
        environment.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    command = ["mpirun", "-n", "2", "--bind-to", "none", binary, "train", "jobs/vae-fashion.yaml",
               "--set", "data.dataset=idx", "--set", f"data.path={data}", "--set", f"output={output}",
               "--set", "train.epochs=3", "--set", "train.batch_size=16", "--set", "checkpoint.every_steps=4",
               "--set", "checkpoint.keep=5", "--set", "eval.metrics=[loss]", "--set", "eval.every_epochs=1", *extra]
    result = subprocess.run(command, capture_output=True, text=True, env=environment)
    return result.returncode, result.stdout + result.stderr


def event_files(folder):
    return sorted(os.path.join(folder, name) for name in os.listdir(folder) if name.startswith("events.out.tfevents."))


def strict_records(path):
    """Every record of `path` through TensorBoard's CRC-checking record reader: the count, or the error it raised."""
    reader = pywrap_tensorflow.PyRecordReader_New(path, 0, None, None)
    count = 0
    while True:
        try:
            reader.GetNext()
        except errors.OutOfRangeError:
            return count
        count += 1


def main(binary, work):
    data, output = os.path.join(work, "tiny-fashion"), os.path.join(work, "run")
    write_tiny_dataset(data)

    status, log = train(binary, data, output, "--stop-at-step", "10")
    expect(status == 75, f"the first start: exit {status}, expected 75 (stopped for a restart):\n{log}")
    [first] = event_files(output)
    expect(strict_records(first) > 0, "the first event file does not read")
    # A kill while a record was being written leaves it cut short: TensorBoard skips the cut record.
    with open(first, "rb+") as file:
        file.truncate(os.path.getsize(first) - 3)
    status, log = train(binary, data, output, "--resume", os.path.join(output, "checkpoints", "step-0000000008.gtck"))
    expect(status == 0 and "resuming at step 8" in log, f"the resumed start: exit {status}:\n{log}")
    files = event_files(output)
    expect(len(files) == 2 and files[0] == first, f"event files {files}")
    events = [event_pb2.Event.FromString(record) for record in records_of(files[-1])]
    expect(events[0].file_version == "brain.Event:2", f"the resumed file begins with {events[0]}")
    expect(events[1].session_log.status == event_pb2.SessionLog.START and events[1].step == 9,
           f"the resumed file's second event is {events[1]}, expected SessionLog START at step 9")

    lines = [json.loads(line) for line in open(os.path.join(output, "metrics.jsonl"))]
    expected = {}
    for line in lines:
        section = line.get("event", "train")
        for key, value in line.items():
            if key != "step" and isinstance(value, (int, float)) and not isinstance(value, bool):
                expected.setdefault(f"{section}/{key}", []).append((line["step"], value))
    expect([line["step"] for line in lines if "event" not in line] == list(range(1, 19)), "metrics.jsonl's steps")

    accumulator = event_accumulator.EventAccumulator(output, size_guidance={kind: 0 for kind in event_accumulator.DEFAULT_SIZE_GUIDANCE})
    accumulator.Reload()
    tags = accumulator.Tags()
    expect(set(tags["scalars"]) == set(expected), f"scalar tags {sorted(tags['scalars'])}, metrics.jsonl's {sorted(expected)}")
    for tag, points in expected.items():
        if tag not in tags["scalars"]:
            continue
        shown = [(scalar.step, scalar.value) for scalar in accumulator.Scalars(tag)]
        expect(len(shown) == len(points), f"{tag}: {len(shown)} scalars, {len(points)} lines of metrics.jsonl")
        expect(len({step for step, _ in shown}) == len(shown), f"{tag}: a step appears twice: {[step for step, _ in shown]}")
        if [step for step, _ in shown] != [step for step, _ in points]:
            failures.append(f"{tag}: steps {[s for s, _ in shown]}, expected {[s for s, _ in points]}")
            continue
        for (_, value), (step, recorded) in zip(shown, points):
            expect(abs(value - recorded) <= 1e-6 * max(1, abs(recorded)), f"{tag} at step {step}: {value}, metrics.jsonl {recorded}")
    for name in ("train/loss", "train/learning_rate", "eval/validation_loss"):
        expect(name in tags["scalars"], f"no scalar {name}")

    pictures = {"eval/samples": [6, 12, 18], "final/samples": [18], "final/interpolation": [18]}
    expect(sorted(tags["images"]) == sorted(pictures), f"image tags {tags['images']}")
    for tag, steps in pictures.items():
        if tag not in tags["images"]:
            continue
        images = accumulator.Images(tag)
        expect([image.step for image in images] == steps, f"{tag}: steps {[image.step for image in images]}, expected {steps}")
        for image in images:
            decoded = Image.open(io.BytesIO(image.encoded_image_string))
            decoded.load()  # decodes every pixel (a bad checksum or cut data raises)
            expect(decoded.format == "PNG" and decoded.size == (image.width, image.height) and decoded.mode in ("L", "RGB"),
                   f"{tag} at step {image.step}: {decoded.format} {decoded.size} {decoded.mode}, summary {image.width}x{image.height}")
            name = tag.split("/")[1] + (f"-step-{image.step:08d}" if tag.startswith("eval/") else "")
            expect(image.encoded_image_string == open(os.path.join(output, name + ".png"), "rb").read(), f"{tag} at step {image.step}: not {name}.png")

    job = json.load(open(os.path.join(output, "job.resolved.json")))
    texts = accumulator.Tensors("job/text_summary")
    expect([text.step for text in texts] == [0, 9], f"job text at steps {[text.step for text in texts]}, expected 0 and 9")
    for text in texts:
        markdown = text.tensor_proto.string_val[0].decode()
        expect(json.loads("\n".join(line[4:] for line in markdown.split("\n"))) == job, f"the job text at step {text.step} is not job.resolved.json")
    expect("job/text_summary" in accumulator.PluginTagToContent("text"), "the job text is not the text plugin's")
    content = accumulator.PluginTagToContent("hparams").get("_hparams_/session_start_info")
    expect(content is not None, "no HParams session start")
    if content is not None:
        hparams = plugin_data_pb2.HParamsPluginData.FromString(content).session_start_info.hparams
        expect(hparams["train.batch_size"].number_value == 16 and hparams["model.kind"].string_value == "vae"
               and hparams["model.latent"].number_value == 32, f"hparams {dict(hparams)}")

    # A changed byte inside a record's data, or in a length, makes the strict reader raise.
    for offset in (os.path.getsize(files[-1]) // 2, 0):
        copy = os.path.join(work, f"corrupted-{offset}")
        shutil.copyfile(files[-1], copy)
        with open(copy, "rb+") as file:
            file.seek(offset)
            byte = file.read(1)
            file.seek(offset)
            file.write(bytes([byte[0] ^ 0x20]))
        try:
            strict_records(copy)
            failures.append(f"a changed byte at offset {offset} was not detected")
        except errors.DataLossError as error:
            print(f"changed byte at offset {offset}: {error.message}")

    counts = ", ".join(f"{tag} {len(points)}" for tag, points in sorted(expected.items()) if tag in ("train/loss", "eval/validation_loss"))
    print(f"{len(expected)} scalar tags ({counts}), {sum(len(v) for v in pictures.values())} images, 2 job texts, hparams: "
          + ("FAIL" if failures else "as metrics.jsonl and the pictures say"))


def records_of(path):
    reader = pywrap_tensorflow.PyRecordReader_New(path, 0, None, None)
    while True:
        try:
            reader.GetNext()
        except errors.OutOfRangeError:
            return
        yield reader.record()


if __name__ == "__main__":
    main(*sys.argv[1:3])
    for failure in failures:
        print("FAIL:", failure)
    sys.exit(1 if failures else 0)
