"""The live view's "not sure": a threshold on the top probability, fitted for a checkpoint on camera frames that hold
nothing to name.

A network with 1000 classes always has some best guess, and on an empty wall, a blurred room or a raised hand that
guess is noise ("window shade", 12%). Those frames give low top probabilities, sharp photos of real objects high
ones, so one threshold between them does the job. It is fitted as the lowest top probability under which
``UNSURE_SHARE`` of generated empty frames fall (``core.camera``), stored in config.json as ``unsure_threshold``, and
measured on another seed's empty frames and on sharp photos:

    python -m core.unsure --checkpoint checkpoints/imagenet-mobilenetv2 --photos ../shared/pretrained/samples --write
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

from core.camera import empty_frame
from core.checkpoint import Checkpoint, load_checkpoint, write_config
from core.data import DATA_DIR, IMAGE_SUFFIXES, ImageSet, load_train_val, open_image
from core.errors import UserError
from core.predict import preprocess, probabilities
from core.report import converted

UNSURE_KEY = "unsure_threshold"
UNSURE_SHARE = 0.85  # of empty frames the fitted threshold calls "not sure" (the goal is 80%; 5 points of margin)
KINDS = ("wall", "blurred", "hand")


def top_probabilities(ckpt: Checkpoint, frames: list) -> np.ndarray:
    """(N,) the calibrated top probability for each frame (any image ``preprocess`` takes), as the live view sees it."""
    tops = []
    for frame in frames:
        tops.append(float(probabilities(ckpt, preprocess(frame, ckpt).tensor)[0].max()))
    return np.array(tops, dtype=np.float32)


def empty_frames(per_kind: int, seed: int, backgrounds: ImageSet | None = None) -> dict[str, list[np.ndarray]]:
    """``per_kind`` frames of each kind in KINDS; blurred rooms and hands need ``backgrounds`` (photos to blur), without
    them only walls are made."""
    rng = np.random.default_rng(seed)
    frames: dict[str, list[np.ndarray]] = {}
    for kind in KINDS if backgrounds is not None else ("wall",):
        frames[kind] = []
        for _ in range(per_kind):
            photo = None if backgrounds is None else backgrounds.images[rng.integers(len(backgrounds))].permute(1, 2, 0).numpy()
            frames[kind].append(empty_frame(kind, rng, photo))
    return frames


def photo_views(path: Path) -> list:
    """A sharp photo as a visitor might frame it: the whole picture and centre crops of 85% and 70%, each also mirrored."""
    img = open_image(path)
    w, h = img.size
    views = []
    for share in (1.0, 0.85, 0.7):
        cw, ch = int(w * share), int(h * share)
        crop = img.crop(((w - cw) // 2, (h - ch) // 2, (w - cw) // 2 + cw, (h - ch) // 2 + ch))
        views += [crop, crop.transpose(0)]  # 0: FLIP_LEFT_RIGHT
    return views


def fit_threshold(empty_tops: np.ndarray, share: float = UNSURE_SHARE) -> float:
    """The lowest threshold under which ``share`` of the empty frames' top probabilities fall."""
    if len(empty_tops) == 0:
        raise ValueError("no empty frames to fit the threshold on")
    return float(np.quantile(empty_tops, share))


def measure(ckpt: Checkpoint, threshold: float, frames: dict[str, list[np.ndarray]], photos: list[Path]) -> dict:
    """Share of empty frames called "not sure" (per kind and in all) and of sharp photo views answered with confidence."""
    result: dict = {"threshold": round(threshold, 4), "empty_not_sure": {}}
    all_tops = []
    for kind, kind_frames in frames.items():
        tops = top_probabilities(ckpt, kind_frames)
        all_tops.append(tops)
        result["empty_not_sure"][kind] = round(float((tops < threshold).mean()), 4)
    result["empty_not_sure"]["all"] = round(float((np.concatenate(all_tops) < threshold).mean()), 4)
    if photos:
        views = [v for p in photos for v in photo_views(p)]
        tops = top_probabilities(ckpt, views)
        result["photo_views"] = len(views)
        result["photos_confident"] = round(float((tops >= threshold).mean()), 4)
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m core.unsure", description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--data", default=str(DATA_DIR / "everyday50-train-jpg.tar.gz"),
                   help="photos to blur into backgrounds (its validation split); without it only walls are made")
    p.add_argument("--photos", default=None, help="a folder of sharp photos of things the model knows")
    p.add_argument("--frames", type=int, default=60, help="empty frames of each kind, to fit and again to measure")
    p.add_argument("--seed", type=int, default=0, help="seed of the fitting frames (the measuring ones use seed + 1)")
    p.add_argument("--write", action="store_true", help=f"store the threshold in config.json as {UNSURE_KEY!r}")
    args = p.parse_args(argv)
    try:
        if not 1 <= args.frames <= 10_000:
            raise UserError(f"--frames must be between 1 and 10000, got {args.frames}")
        torch.set_num_threads(1)
        ckpt = load_checkpoint(args.checkpoint)
        backgrounds = load_train_val(args.data, 0.1, 0)[1] if Path(args.data).exists() else None
        photos = sorted(f for f in Path(args.photos).iterdir() if f.suffix.lower() in IMAGE_SUFFIXES) if args.photos else []
        fit_frames = empty_frames(args.frames, args.seed, backgrounds)
        threshold = fit_threshold(np.concatenate([top_probabilities(ckpt, f) for f in fit_frames.values()]))
        result = measure(ckpt, threshold, empty_frames(args.frames, args.seed + 1, backgrounds), photos)
        if args.write:
            from core.convert import update_metrics

            write_config(ckpt.path, {**ckpt.config, UNSURE_KEY: round(threshold, 4)})
            if converted(ckpt.config):  # its card reports the figures
                update_metrics(ckpt.path, {"unsure": result})
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
