#!/usr/bin/env python3
"""PyTorch's numbers for the DDPM U-Net's blocks, which Tests/TensorCoreTests/DiffusionLayerTests compares gentrain with.

The blocks are the anchor's (shared/anchors/torch_models.py, copied here so the script stands alone):
`timestep_embedding`, `SelfAttention` (GroupNorm(8), qkv 1x1 conv, softmax(q^T k / sqrt(C)), 1x1 projection,
residual) and `ResBlock` (GroupNorm(8)+SiLU, 3x3 conv, + Linear(t_emb) per channel, GroupNorm(8)+SiLU, 3x3 conv,
+ 1x1 skip). Each block gets seeded random weights and inputs; the file holds them, the outputs, and the gradients of
sum(output * projection) with respect to the inputs. Writes Tests/TensorCoreTests/Fixtures/unet_blocks_torch.json.

    ~/.cache/gentrain-export-venv/bin/python scripts/reference_unet_blocks.py
"""
import json
import math
import os

import torch
import torch.nn as nn
import torch.nn.functional as F


def timestep_embedding(t, dim):
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32) / half)
    a = t.float()[:, None] * freqs[None]
    return torch.cat([torch.sin(a), torch.cos(a)], dim=1)


class ResBlock(nn.Module):
    def __init__(self, cin, cout, tdim):
        super().__init__()
        self.n1 = nn.GroupNorm(8, cin)
        self.c1 = nn.Conv2d(cin, cout, 3, 1, 1)
        self.t = nn.Linear(tdim, cout)
        self.n2 = nn.GroupNorm(8, cout)
        self.c2 = nn.Conv2d(cout, cout, 3, 1, 1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x, temb):
        h = self.c1(F.silu(self.n1(x)))
        h = h + self.t(temb)[:, :, None, None]
        h = self.c2(F.silu(self.n2(h)))
        return h + self.skip(x)


class SelfAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.norm = nn.GroupNorm(8, c)
        self.qkv = nn.Conv2d(c, 3 * c, 1)
        self.proj = nn.Conv2d(c, c, 1)

    def forward(self, x):
        b, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(b, 3, c, h * w).unbind(1)
        att = torch.softmax(torch.einsum("bcn,bcm->bnm", q, k) / math.sqrt(c), dim=-1)
        out = torch.einsum("bnm,bcm->bcn", att, v).reshape(b, c, h, w)
        return x + self.proj(out)


def flat(t):
    return [float(f"{v:.9g}") for v in t.detach().reshape(-1).tolist()]  # float32 round-trips in 9 digits


def randomized(module):
    """Every parameter drawn from U(-0.5, 0.5) (GroupNorm's scale from U(0.5, 1.5)), in PyTorch's parameter order."""
    with torch.no_grad():
        for name, p in module.named_parameters():
            p.uniform_(0.5, 1.5) if name.endswith("weight") and p.dim() == 1 else p.uniform_(-0.5, 0.5)
    return module


def case(module, inputs):
    leaves = [x.clone().requires_grad_(True) for x in inputs]
    y = module(*leaves)
    projection = torch.rand(y.shape) + 0.5
    (y * projection).sum().backward()
    return dict(parameters=[dict(name=n, shape=list(p.shape), values=flat(p)) for n, p in module.named_parameters()],
                inputs=[dict(shape=list(x.shape), values=flat(x)) for x in inputs],
                output=dict(shape=list(y.shape), values=flat(y)), projection=flat(projection),
                input_gradients=[flat(x.grad) for x in leaves])


torch.manual_seed(0)
timesteps = [0, 1, 17, 250, 500, 999]
result = dict(
    torch=torch.__version__,
    embedding=dict(timesteps=timesteps, dimension=32,
                   values=flat(timestep_embedding(torch.tensor(timesteps), 32))),
    attention=case(randomized(SelfAttention(16)), [torch.randn(2, 16, 3, 3)]),
    residual=case(randomized(ResBlock(8, 16, 4)), [torch.randn(2, 8, 4, 4), torch.randn(2, 4)]),
)
root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
with open(os.path.join(root, "Tests", "TensorCoreTests", "Fixtures", "unet_blocks_torch.json"), "w") as file:
    json.dump(result, file)
    file.write("\n")
print("torch", torch.__version__, "attention output[0:4]", result["attention"]["output"]["values"][:4])
