"""Camera-like frames built from images at hand, for measuring what the live view does on a webcam.

A webcam frame is 640x480, the object fills part of it over some background, and the picture is softer, noisier and
more compressed than a dataset photo. ``camera_frame`` makes one from an object image and a background; ``empty_frame``
makes frames with nothing in them to name: a plain or shaded wall, a blurred room-like background, a hand.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

FRAME = (640, 480)  # width, height


def _finish(img: Image.Image, rng: np.random.Generator) -> np.ndarray:
    """Blur, brightness, sensor noise and JPEG compression as a webcam adds them. Returns (480, 640, 3) uint8."""
    img = img.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.0, 1.5))))
    a = np.asarray(img, dtype=np.float32) * float(rng.uniform(0.7, 1.3))
    a = a + rng.normal(0.0, float(rng.uniform(1.0, 6.0)), a.shape)
    buf = io.BytesIO()
    Image.fromarray(a.clip(0, 255).astype(np.uint8)).save(buf, "JPEG", quality=int(rng.integers(50, 90)))
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))


def wall(rng: np.random.Generator) -> Image.Image:
    """A plain wall: one colour with a soft light gradient and a little texture."""
    w, h = FRAME
    colour = rng.uniform(90, 235, size=3)
    yy, xx = np.mgrid[0:h, 0:w] / max(w, h)
    light = 1.0 + float(rng.uniform(-0.25, 0.25)) * (xx - 0.5) + float(rng.uniform(-0.25, 0.25)) * (yy - 0.5)
    texture = rng.normal(0.0, 3.0, (h, w, 1))
    return Image.fromarray((colour * light[..., None] + texture).clip(0, 255).astype(np.uint8))


def blurred_background(photo: np.ndarray, rng: np.random.Generator) -> Image.Image:
    """A photo stretched over the frame and blurred out of focus: a room behind the camera's subject."""
    img = Image.fromarray(photo).resize(FRAME, Image.BILINEAR)
    return img.filter(ImageFilter.GaussianBlur(float(rng.uniform(12, 30))))


def hand(background: Image.Image, rng: np.random.Generator) -> Image.Image:
    """A skin-coloured open hand (palm and five fingers) raised in front of ``background``."""
    img = background.copy()
    draw = ImageDraw.Draw(img)
    skin = tuple(int(c) for c in np.array([224, 172, 140]) * rng.uniform(0.55, 1.1))
    w, h = FRAME
    cx, cy, s = rng.uniform(0.3, 0.7) * w, rng.uniform(0.55, 0.8) * h, rng.uniform(0.6, 1.2) * h / 4
    draw.ellipse([cx - 0.55 * s, cy - 0.6 * s, cx + 0.55 * s, cy + 0.7 * s], fill=skin)  # palm
    draw.rectangle([cx - 0.4 * s, cy + 0.5 * s, cx + 0.4 * s, h], fill=skin)  # wrist and arm
    for dx, length in [(-0.42, 0.9), (-0.15, 1.1), (0.12, 1.05), (0.38, 0.85)]:
        x = cx + dx * s
        draw.rounded_rectangle([x - 0.12 * s, cy - 0.5 * s - length * s, x + 0.12 * s, cy - 0.3 * s], radius=int(0.12 * s),
                               fill=skin)
    draw.rounded_rectangle([cx + 0.45 * s, cy - 0.2 * s, cx + 1.05 * s, cy + 0.1 * s], radius=int(0.12 * s), fill=skin)  # thumb
    return img.filter(ImageFilter.GaussianBlur(1.0))


def empty_frame(kind: str, rng: np.random.Generator, photo: np.ndarray | None = None) -> np.ndarray:
    """A camera frame with no object to name. kind: "wall", "blurred" (needs ``photo``) or "hand"."""
    if kind == "wall":
        return _finish(wall(rng), rng)
    if kind == "blurred":
        return _finish(blurred_background(photo, rng), rng)
    if kind == "hand":
        back = blurred_background(photo, rng) if photo is not None and rng.uniform() < 0.5 else wall(rng)
        return _finish(hand(back, rng), rng)
    raise ValueError(f"unknown empty frame kind {kind!r}")


def camera_frame(obj: np.ndarray, background: np.ndarray, rng: np.random.Generator,
                 fill: tuple[float, float] = (0.45, 0.8)) -> np.ndarray:
    """``obj`` (an object photo, any size) held up in front of ``background`` (a photo, blurred out of focus): its side
    a ``fill`` share of the frame's height, at a random place, then webcam blur, light, noise and JPEG.
    Returns (480, 640, 3) uint8."""
    frame = blurred_background(background, rng)
    side = int(FRAME[1] * rng.uniform(*fill))
    item = Image.fromarray(obj).resize((side, side), Image.BICUBIC)
    x, y = int(rng.integers(0, FRAME[0] - side + 1)), int(rng.integers(0, FRAME[1] - side + 1))
    frame.paste(item, (x, y))
    return _finish(frame, rng)
