"""Where models run and in which precision: imported by training, evaluation and the ensemble tools alike."""

from __future__ import annotations

import os

import torch
from torch import nn


def pick_device() -> torch.device:
    """CUDA (this process's rank under torchrun), else Apple's MPS, else the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def bf16_supported(device: torch.device) -> bool:
    """True where bfloat16 has native hardware support (AVX512-BF16 or AMX on a CPU)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        cpu = getattr(torch, "cpu", None)
        return bool(cpu and (getattr(cpu, "_is_avx512_bf16_supported", lambda: False)()
                             or getattr(cpu, "_is_amx_tile_supported", lambda: False)()))
    return False


def has_depthwise(model: nn.Module) -> bool:
    return any(isinstance(m, nn.Conv2d) and m.groups > 1 and m.groups == m.in_channels for m in model.modules())


def bf16_helps(model: nn.Module, device: torch.device) -> bool:
    """Whether bfloat16 autocast makes ``model`` faster on ``device``: where the hardware has it, except on the CPU
    for networks with depthwise convolutions (MobileNetV2 trains about 10x slower in bfloat16 there than in float32)."""
    return bf16_supported(device) and not (device.type == "cpu" and has_depthwise(model))
