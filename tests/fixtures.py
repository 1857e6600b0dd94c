"""Small generated data for fast tests: coloured shapes on noisy backgrounds, and a tiny trained model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

SHAPE_CLASSES = ("circle", "cross", "square", "triangle")
_COLOURS = {"circle": (220, 40, 40), "cross": (40, 200, 60), "square": (40, 80, 230), "triangle": (230, 200, 30)}


def shape_image(kind: str, size: int, rng: np.random.Generator) -> Image.Image:
    """One RGB image of a coloured shape of random position and size on a noisy grey background."""
    bg = rng.integers(60, 140, (size, size, 3), dtype=np.uint8)
    img = Image.fromarray(bg)
    draw = ImageDraw.Draw(img)
    r = int(size * rng.uniform(0.2, 0.32))
    cx, cy = rng.integers(r, size - r, 2)
    colour = tuple(int(np.clip(c + rng.integers(-25, 25), 0, 255)) for c in _COLOURS[kind])
    if kind == "circle":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=colour)
    elif kind == "square":
        draw.rectangle([cx - r, cy - r, cx + r, cy + r], fill=colour)
    elif kind == "triangle":
        draw.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=colour)
    else:
        w = max(2, r // 3)
        draw.rectangle([cx - r, cy - w, cx + r, cy + w], fill=colour)
        draw.rectangle([cx - w, cy - r, cx + w, cy + r], fill=colour)
    return img


def make_shapes_dataset(root: Path, per_class: int = 30, size: int = 32, seed: int = 0,
                        classes: tuple[str, ...] = SHAPE_CLASSES, split: str | None = "train") -> Path:
    """Write ``root/<split>/<class>/<i>.png`` (or ``root/<class>/...`` when split is None). Returns ``root``."""
    rng = np.random.default_rng(seed)
    base = root / split if split else root
    for kind in classes:
        (base / kind).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            shape_image(kind, size, rng).save(base / kind / f"{i:03d}.png")
    return root
