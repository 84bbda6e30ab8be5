#!/usr/bin/env python3
"""PyTorch's SAGAN training step on CPU, the architecture of Sources/Models/SAGAN.swift, for side-by-side timing with
`gentrain bench sagan` (scripts/bench_sagan.py alternates the two).

The same networks as scripts/torch_twins.py's SAGAN, with PyTorch's own symmetric padding (same shapes and FLOPs as
Keras' `same`, without the twin's explicit F.pad): group normalisation after G's normalised layers but the last,
spectral normalisation (torch.nn.utils.spectral_norm) on every
convolution and Linear, self-attention at 14x14 in G and D, hinge loss, Adam(0, 0.9) at D 4e-4 and G 1e-4. One step,
as gentrain's: D on 64 real and 64 generated images in one pass, then G on 128 latents through D with D's
parameters frozen. Each network runs one power iteration per step, as gentrain's: G generates the fakes in eval
mode (no iteration, no gradient) and D scores G's images in eval mode (SN's eval mode only skips the iteration).

    python3 scripts/bench_sagan_reference.py [--threads 1] [--batch 128] [--steps 10] [--warmup 3] [--channels-last]

Prints one JSON line: ms_median / ms_min / ms_max per step, img_s, the layout and PyTorch's FLOP count of a step.
"""
import argparse
import json
import os
import statistics
import time


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--channels-last", action="store_true")
    arguments = parser.parse_args()
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[name] = str(arguments.threads)
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    torch.set_num_threads(arguments.threads)
    torch.manual_seed(0)
    sn = nn.utils.spectral_norm

    class SelfAttention(nn.Module):
        def __init__(self, channels):
            super().__init__()
            self.query, self.key = sn(nn.Conv2d(channels, channels // 8, 1)), sn(nn.Conv2d(channels, channels // 8, 1))
            self.value, self.output = sn(nn.Conv2d(channels, channels // 2, 1)), sn(nn.Conv2d(channels // 2, channels, 1))
            self.gamma = nn.Parameter(torch.zeros(1))

        def forward(self, x):
            n, c, h, w = x.shape
            q, k, v = self.query(x).flatten(2), self.key(x).flatten(2), self.value(x).flatten(2)
            attention = torch.softmax(q.transpose(1, 2) @ k, dim=-1)
            return x + self.gamma * self.output((v @ attention.transpose(1, 2)).view(n, -1, h, w))

    class Generator(nn.Module):
        def __init__(self):
            super().__init__()
            self.dense = sn(nn.Linear(100, 7 * 7 * 256))
            self.dense_norm = nn.GroupNorm(8, 256, eps=1e-3)
            self.deconv1 = sn(nn.ConvTranspose2d(256, 128, 4, 2, 1))
            self.deconv1_norm = nn.GroupNorm(8, 128, eps=1e-3)
            self.attention = SelfAttention(128)
            self.deconv2 = sn(nn.ConvTranspose2d(128, 64, 4, 2, 1))
            self.deconv2_norm = nn.GroupNorm(8, 64, eps=1e-3)
            self.conv = sn(nn.Conv2d(64, 1, 3, 1, 1))

        def forward(self, z):
            x = self.dense(z).view(-1, 256, 7, 7)
            if arguments.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            x = F.leaky_relu(self.dense_norm(x), 0.2)
            x = self.attention(F.leaky_relu(self.deconv1_norm(self.deconv1(x)), 0.2))
            return torch.tanh(self.conv(F.leaky_relu(self.deconv2_norm(self.deconv2(x)), 0.2)))

    class Discriminator(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1, self.conv2 = sn(nn.Conv2d(1, 64, 3, 1, 1)), sn(nn.Conv2d(64, 128, 3, 2, 1))
            self.attention = SelfAttention(128)
            self.conv3, self.conv4 = sn(nn.Conv2d(128, 128, 3, 2, 1)), sn(nn.Conv2d(128, 256, 3, 2, 1))
            self.dense = sn(nn.Linear(4 * 4 * 256, 1))

        def forward(self, x):
            x = self.attention(F.leaky_relu(self.conv2(F.leaky_relu(self.conv1(x), 0.2)), 0.2))
            x = F.leaky_relu(self.conv4(F.leaky_relu(self.conv3(x), 0.2)), 0.2)
            return self.dense(x.flatten(1))

    generator, discriminator = Generator(), Discriminator()
    if arguments.channels_last:
        generator, discriminator = generator.to(memory_format=torch.channels_last), discriminator.to(memory_format=torch.channels_last)
    optimizer_g = torch.optim.Adam(generator.parameters(), lr=1e-4, betas=(0.0, 0.9))
    optimizer_d = torch.optim.Adam(discriminator.parameters(), lr=4e-4, betas=(0.0, 0.9))
    half = arguments.batch // 2
    real = torch.rand(half, 1, 28, 28) * 2 - 1
    if arguments.channels_last:
        real = real.contiguous(memory_format=torch.channels_last)

    def step():
        generator.eval()
        with torch.no_grad():
            fake = generator(torch.randn(half, 100))
        generator.train()
        discriminator.train()
        optimizer_d.zero_grad(set_to_none=True)
        scores = discriminator(torch.cat([real, fake]))
        loss_d = F.relu(1 - scores[:half]).mean() + F.relu(1 + scores[half:]).mean()
        loss_d.backward()
        optimizer_d.step()
        discriminator.eval()
        for parameter in discriminator.parameters():
            parameter.requires_grad_(False)
        optimizer_g.zero_grad(set_to_none=True)
        loss_g = -discriminator(generator(torch.randn(arguments.batch, 100))).mean()
        loss_g.backward()
        optimizer_g.step()
        for parameter in discriminator.parameters():
            parameter.requires_grad_(True)
        return loss_d.item() + loss_g.item()

    from torch.utils.flop_counter import FlopCounterMode
    with FlopCounterMode(display=False) as counter:
        step()
    for _ in range(arguments.warmup):
        step()
    times = []
    for _ in range(arguments.steps):
        started = time.perf_counter()
        step()
        times.append((time.perf_counter() - started) * 1e3)
    median = statistics.median(times)
    print(json.dumps({"framework": "torch", "version": torch.__version__, "model": "sagan",
                      "layout": "NHWC" if arguments.channels_last else "NCHW", "batch": arguments.batch, "threads": arguments.threads,
                      "ms_median": round(median, 2), "ms_min": round(min(times), 2), "ms_max": round(max(times), 2),
                      "img_s": round(arguments.batch / median * 1e3, 1), "gflop_step": round(counter.get_total_flops() / 1e9, 3)}),
          flush=True)


if __name__ == "__main__":
    main()
