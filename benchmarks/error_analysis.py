"""How fast the Error analysis tab is: open from the cache, recompute on the bundled sample, recompute on 10,000.

    python benchmarks/error_analysis.py --json
    python benchmarks/error_analysis.py --checkpoint checkpoints/cifar10-resnet --images 10000 --json

Prints one JSON object (the last line with --json):
- open_from_cache_seconds: the tab's whole opening callback (demo.errors.load_view: cache read, metrics, all
  five figures) plus encoding the figures to PNG as gr.Plot does, with the evaluation cache on disk and
  nothing in memory (the first visitor after a start-up).
- recompute_sample_seconds: evaluating the bundled eval_sample.zip again (decoded images from the disk cache,
  inference at the model card's tta, writing the cache).
- recompute_10k_seconds / _tta0: inference on the first N training images of --data (a speed figure only:
  those images were trained on), at the model card's tta and without tta; decode_10k_seconds is loading them.
The checkpoint is copied to a temporary folder first (a training run may rewrite the original meanwhile);
when it has no eval_sample.zip yet, one is made from its validation split (50 images per class).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

import core.data as core_data  # noqa: E402
import core.evaluate as ce  # noqa: E402
from core.checkpoint import CheckpointStore, load_checkpoint, weight_files  # noqa: E402
from core.data import load_images, load_split, per_class_sample, write_sample_zip  # noqa: E402


def _forget_memory_caches() -> None:
    """Drop what earlier calls kept in memory, so a timing starts from the disk cache only."""
    ce._load_evaluation_memo.cache_clear()
    core_data._sha256_memo.cache_clear()
    from demo import errors

    errors._image_sets.clear()


def _copy_checkpoint(src: Path, dst: Path, data: str) -> str:
    dst.mkdir(parents=True)
    for name in ("config.json", "metrics.json", ce.SAMPLE_NAME, ce.CACHE_NAME):
        if (src / name).is_file():
            shutil.copy2(src / name, dst / name)
    for file in weight_files(src):
        shutil.copy2(file, dst / file.name)
    if (dst / ce.SAMPLE_NAME).is_file():
        return f"{src / ce.SAMPLE_NAME}"
    ckpt = load_checkpoint(dst)
    opts = ckpt.config.get("dataset", {})
    val = load_split(data, "val", float(opts.get("val_fraction") or 0.1), int(opts.get("seed") or 0), ckpt.input_size)
    write_sample_zip(val.subset(per_class_sample(val.labels, 50)), dst / ce.SAMPLE_NAME)
    return f"made for this run: 50 validation images per class of {data}"


def run(checkpoint: Path, data: str, n_images: int) -> dict:
    from demo import errors, plots  # noqa: F401  (import cost is start-up, not opening the tab)

    tmp = Path(tempfile.mkdtemp(prefix="wtcs-bench-errors-"))
    try:
        folder = tmp / checkpoint.name
        sample = _copy_checkpoint(checkpoint, folder, data)
        ckpt = load_checkpoint(folder)
        tta = ce.default_tta(ckpt)

        start = time.perf_counter()
        ev = ce.cached_evaluation(ckpt, recompute=True)
        recompute_sample = time.perf_counter() - start

        _forget_memory_caches()
        store = CheckpointStore(tmp)
        store.get(folder)  # the model is loaded at app start-up, not when the tab opens
        start = time.perf_counter()
        out = errors.load_view(store, str(folder), "", "auto", -1)
        for key in ("confusion", "per_class", "confidence", "reliability", "curves"):
            out[key].savefig(io.BytesIO(), format="png")  # what gr.Plot does with a matplotlib figure
        open_from_cache = time.perf_counter() - start
        assert "opened from the cache" in out["status"], out["status"]

        start = time.perf_counter()
        images = load_images(data, "train", ckpt.input_size)
        subset = images.subset(torch.arange(min(n_images, len(images))))
        decode = time.perf_counter() - start
        labels = ce.align_classes(subset, ckpt.classes)
        timings = {}
        for level in sorted({tta, 0}):
            start = time.perf_counter()
            ce.evaluate_set(ckpt, labels, level)
            timings[level] = time.perf_counter() - start
        return {
            "checkpoint": str(checkpoint), "sample": sample, "sample_images": ev.n, "tta": tta,
            "open_from_cache_seconds": round(open_from_cache, 3),
            "recompute_sample_seconds": round(recompute_sample, 3),
            "images": len(subset), "decode_10k_seconds": round(decode, 3),
            "recompute_10k_seconds": round(timings[tta], 3), "recompute_10k_seconds_tta0": round(timings[0], 3),
            "images_per_second_tta0": round(len(subset) / timings[0], 1),
            "torch_threads": torch.get_num_threads(), "load_average_1min": round(os.getloadavg()[0], 2),
        }
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", default="checkpoints/cifar10-resnet")
    parser.add_argument("--data", default="cifar10-train-jpg", help="where the N images for the speed figure come from")
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--json", action="store_true", help="print only the JSON object")
    args = parser.parse_args(argv)
    result = run(Path(args.checkpoint), args.data, args.images)
    if not args.json:
        for key, value in result.items():
            print(f"{key:>30}: {value}")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
