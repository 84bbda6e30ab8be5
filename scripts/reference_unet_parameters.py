#!/usr/bin/env python3
"""The anchor U-Net's parameters as PyTorch lists them: name and shape, in `named_parameters()` order, which
Tests/ModelsTests/DDPMTests compares the DDPM's U-Net (configured as the anchor) with. Imports the anchor from
shared/anchors/torch_models.py (GENTRAIN_ANCHORS names its folder). Writes Tests/ModelsTests/Fixtures/anchor_unet_parameters.json.

    ~/.cache/gentrain-export-venv/bin/python scripts/reference_unet_parameters.py
"""
import json
import os
import sys

import torch

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.environ.get("GENTRAIN_ANCHORS", "/work/shared/anchors"))
import torch_models  # noqa: E402

model = torch_models.UNet()
parameters = [{"name": name, "shape": list(value.shape)} for name, value in model.named_parameters()]
path = os.path.join(root, "Tests", "ModelsTests", "Fixtures", "anchor_unet_parameters.json")
with open(path, "w") as file:
    json.dump({"torch": torch.__version__, "count": sum(p.numel() for p in model.parameters()), "parameters": parameters}, file)
    file.write("\n")
print(path, torch_models.n_params(model), "parameters in", len(parameters), "tensors")
