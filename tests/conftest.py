"""Shared fixtures. Everything is generated in a temporary folder; nothing touches the network or ~/.cache."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

# Before any core import: keep dataset caches out of the user's home and let tests share the CPU politely.
os.environ.setdefault("WTCS_CACHE_DIR", tempfile.mkdtemp(prefix="wtcs-test-cache-"))
os.environ.setdefault("WTCS_CIFAR_ROOT", tempfile.mkdtemp(prefix="wtcs-test-cifar-"))

import pytest  # noqa: E402
import torch  # noqa: E402

from tests.fixtures import make_shapes_dataset  # noqa: E402

torch.set_num_threads(1)

# A model small enough to train in a few seconds on the shapes: resnet with narrow stages.
TINY_ARCH = {"widths": [8, 16, 16], "stem_width": 8}


@pytest.fixture(scope="session")
def shapes_dir(tmp_path_factory) -> Path:
    """4 classes (circle, cross, square, triangle) x 30 PNG images, 32x32, in ``root/train/<class>/``."""
    return make_shapes_dataset(tmp_path_factory.mktemp("shapes"), per_class=30)


@pytest.fixture(scope="session")
def tiny_checkpoint(shapes_dir, tmp_path_factory) -> Path:
    """A resnet trained for a few epochs on ``shapes_dir`` (well above chance), as a checkpoint folder."""
    from core.train import TrainConfig, train

    out = tmp_path_factory.mktemp("ckpt") / "shapes-resnet"
    cfg = TrainConfig(data=str(shapes_dir), output_dir=str(out), arch="resnet", arch_kwargs=TINY_ARCH, epochs=8,
                      batch_size=16, optimizer="adam", lr=3e-3, val_fraction=0.25, tta=0, log_every=1000)
    train(cfg)
    return out
