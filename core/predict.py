"""From any photo to the model's top guesses.

``preprocess`` turns a photo (path, bytes, PIL image or numpy array; any mode, any size) into the
model's input: EXIF orientation, centre square crop, antialiased resize to the model's input size, and
the normalisation from the checkpoint's config.json. ``predict_topk`` adds the forward pass.

    python -m core.predict --checkpoint checkpoints/cifar10-resnet photo.jpg ...
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from core.checkpoint import Checkpoint, load_checkpoint
from core.data import open_image, square_resize
from core.errors import UserError


def to_model_input(images: torch.Tensor, mean: list[float], std: list[float]) -> torch.Tensor:
    """(N, 3, H, W) uint8 -> normalised float32 (N, 3, H, W): (x / 255 - mean) / std per channel."""
    m = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
    s = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)
    return (images.float() / 255.0 - m) / s


@dataclass
class Preprocessed:
    """A photo ready for the model. pixels: (size, size, 3) uint8, what the network really sees;
    tensor: (1, 3, size, size) float32, normalised; photo: (d, d, 3) uint8, the same centre crop at display size
    (None unless asked for)."""

    pixels: np.ndarray
    tensor: torch.Tensor
    photo: np.ndarray | None = None


def preprocess(image, ckpt: Checkpoint, display_size: int | None = None) -> Preprocessed:
    """Any photo -> the model's input; with ``display_size``, also the same crop at up to that many pixels a side
    (for an overlay). Raises ImageError for something that is not a usable image."""
    size = ckpt.input_size
    img = open_image(image, draft_size=max(size * 2, display_size or 0))
    pixels = square_resize(img, size)
    tensor = to_model_input(torch.from_numpy(pixels).permute(2, 0, 1)[None], ckpt.mean, ckpt.std)
    photo = square_resize(img, min(display_size, min(img.size))) if display_size else None
    return Preprocessed(pixels, tensor, photo)


def probabilities(ckpt: Checkpoint, tensor: torch.Tensor, calibrated: bool = True) -> torch.Tensor:
    """Softmax probabilities (N, classes) for a normalised input batch; divided by the checkpoint's
    calibration temperature when ``calibrated``."""
    with torch.inference_mode():
        logits = ckpt.model(tensor)
    return logits_to_probabilities(ckpt, logits, calibrated)


def logits_to_probabilities(ckpt: Checkpoint, logits: torch.Tensor, calibrated: bool = True) -> torch.Tensor:
    """Softmax of logits (N, classes), divided first by the checkpoint's calibration temperature when
    ``calibrated``: the probabilities every view shows. Returns (N, classes) float32."""
    return torch.softmax(logits.float() / (ckpt.temperature if calibrated else 1.0), dim=1)


def group_probabilities(probs: torch.Tensor, classes: list[str], groups: dict[str, list[str]]) -> dict[str, float]:
    """A group's probability is the sum of its classes' probabilities. probs: (classes,)."""
    index = {c: i for i, c in enumerate(classes)}
    return {g: float(sum(probs[index[c]] for c in members if c in index)) for g, members in groups.items()}


@dataclass
class Prediction:
    top: list[tuple[str, float]]  # (class, probability), best first
    groups: list[tuple[str, float]]  # (group, probability), best first; empty when the model has no groups
    probs: np.ndarray  # (classes,) float32
    pixels: np.ndarray  # (size, size, 3) uint8: the input the network saw


def predict_topk(ckpt: Checkpoint, image, k: int = 5) -> Prediction:
    """Top-k classes and all groups with probabilities for one photo (calibrated by temperature)."""
    pre = preprocess(image, ckpt)
    probs = probabilities(ckpt, pre.tensor)[0]
    return prediction_from_probs(probs, ckpt, pre.pixels, k)


def prediction_from_probs(probs: torch.Tensor, ckpt: Checkpoint, pixels: np.ndarray, k: int = 5) -> Prediction:
    values, index = probs.topk(min(k, len(probs)))
    top = [(ckpt.classes[i], float(v)) for v, i in zip(values.tolist(), index.tolist(), strict=True)]
    groups = sorted(group_probabilities(probs, ckpt.classes, ckpt.groups).items(), key=lambda kv: -kv[1])
    return Prediction(top, groups, probs.numpy().astype(np.float32), pixels)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Print the top 5 classes for each image.")
    parser.add_argument("--checkpoint", required=True, help="checkpoint folder, e.g. checkpoints/cifar10-resnet")
    parser.add_argument("--k", type=int, default=5, help="how many classes to print")
    parser.add_argument("images", nargs="+", help="image files")
    args = parser.parse_args(argv)
    if args.k < 1:
        parser.error(f"--k must be at least 1, got {args.k}")
    try:
        ckpt = load_checkpoint(args.checkpoint)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    status = 0
    for path in args.images:
        try:
            pred = predict_topk(ckpt, Path(path), args.k)
        except UserError as err:
            print(f"{path}: error: {err}", file=sys.stderr)
            status = 2  # as for any mistake in the input; the other images are still answered
            continue
        print(path)
        for name, p in pred.top:
            print(f"  {p:6.1%}  {name}")
        if pred.groups:
            print(f"  group: {pred.groups[0][0]} ({pred.groups[0][1]:.1%})")
    return status


if __name__ == "__main__":
    sys.exit(main())
