"""A fine-tuned network mixed with the pretrained one it started from (core.wise), on photos and on camera frames.

    python benchmarks/wise_frames.py RUN_FOLDER --json [--alphas 1,0.8,0] [--per-class 10]

RUN_FOLDER: a checkpoint fine-tuned with --init-from (float or float16 weights, not yet mixed), e.g. the run folder of
the everyday50-mobilenetv2 recipe. For each fine-tuned share: top-1 on ``--per-class`` validation photos a class as the
app's Explore tab sees them, and on the same photos made into camera frames as the live view sees them (core.camera:
held up over another, blurred, photo on a 640x480 frame with blur, light, noise and JPEG, then the live view's centre
crop). Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from core.camera import camera_frame  # noqa: E402
from core.data import load_train_val  # noqa: E402
from core.predict import preprocess, probabilities  # noqa: E402
from core.wise import mix, start_state, unmixed_checkpoint  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", help="a fine-tuned checkpoint folder (not yet mixed)")
    parser.add_argument("--alphas", default="1,0.8,0", help="fine-tuned shares, comma-separated")
    parser.add_argument("--per-class", type=int, default=10, help="validation photos a class")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)

    ckpt = unmixed_checkpoint(args.checkpoint)
    start, own = start_state(ckpt), {k: v.clone() for k, v in ckpt.model.state_dict().items()}
    ds = ckpt.config["dataset"]
    _, val = load_train_val(ds["source"], ds.get("val_fraction", 0.1), ds.get("seed", 0))
    rng = np.random.default_rng(args.seed)
    picked = [i for c in range(len(val.classes)) for i in np.flatnonzero(val.labels.numpy() == c)[:args.per_class]]
    photos = [val.images[i].permute(1, 2, 0).numpy() for i in picked]
    names = [val.classes[int(val.labels[i])] for i in picked]
    backgrounds = [photos[j] for j in rng.permutation(len(photos))[:100]]
    frames = [camera_frame(p, backgrounds[rng.integers(len(backgrounds))], rng) for p in photos]
    rows = []
    for alpha in [float(a) for a in args.alphas.split(",")]:
        ckpt.model.load_state_dict(mix(own, start, alpha))
        row = {"alpha": alpha}
        for label, images in (("photos", photos), ("frames", frames)):
            said = [ckpt.classes[int(probabilities(ckpt, preprocess(img, ckpt).tensor)[0].argmax())] for img in images]
            row[f"{label}_top1"] = round(sum(s == n for s, n in zip(said, names, strict=True)) / len(names), 4)
        rows.append(row)
    result = {"checkpoint": Path(args.checkpoint).name, "images": len(photos), "mixes": rows}
    print(json.dumps(result) if args.json else "\n".join(str(r) for r in rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
