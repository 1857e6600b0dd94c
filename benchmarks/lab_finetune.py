"""The fine-tuning lab's default recipe, started from a trained network: does its first epoch keep what the network
already knew? Validation top-1 before the first step and after each of the first epochs, on the network's own
validation split, with the lab's settings as its controls start (demo.lab.LabSettings) and one torch thread, as the
lab's background job runs.

    python benchmarks/lab_finetune.py --json [--base cifar10-simplecnn] [--epochs 1]
    python benchmarks/lab_finetune.py --json --lr 0.2 --backbone-lr-scale 1   # the from-scratch rate, for comparison

Prints one JSON object (with --json) or a short summary.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.checkpoint import CHECKPOINTS_DIR, read_config  # noqa: E402
from core.data import DATA_DIR  # noqa: E402
from core.train import Cancelled, train  # noqa: E402
from demo.lab import LabSettings, lab_config  # noqa: E402


def measure(base: Path, data: str, epochs: int, **overrides) -> dict:
    """The lab's default fine-tune of ``base`` on ``data`` (with ``overrides`` of its TrainConfig), stopped after
    ``epochs`` epochs."""
    cfg = replace(lab_config(str(base), "resnet", data, LabSettings()), **overrides)
    events: list[dict] = []
    started = time.time()

    def record(event: dict) -> None:
        if event["event"] in ("baseline", "epoch"):
            events.append({**event, "at_seconds": round(time.time() - started, 1)})

    with tempfile.TemporaryDirectory() as tmp:
        job = replace(cfg, output_dir=str(Path(tmp) / "tuned"), threads=1, max_minutes=None)
        try:
            train(job, on_progress=record, should_stop=lambda: sum(e["event"] == "epoch" for e in events) >= epochs)
        except Cancelled:
            pass
    before = next(e for e in events if e["event"] == "baseline")
    after = [e for e in events if e["event"] == "epoch"]
    return {"base": base.name, "data": Path(data).name, "recipe": {k: getattr(cfg, k) for k in (
                "optimizer", "lr", "backbone_lr_scale", "schedule", "warmup", "batch_size", "epochs", "wd", "l1",
                "label_smoothing", "augment")},
            "before": {"val_acc": before["val_acc"], "val_loss": before["val_loss"],
                       "val_images": before["val_images"], "at_seconds": before["at_seconds"]},
            "after_epochs": [{"epoch": e["epoch"], "val_acc": e["val_acc"], "val_loss": e["val_loss"],
                              "at_seconds": e["at_seconds"]} for e in after]}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--base", default="cifar10-simplecnn", help="a checkpoint folder name in checkpoints/")
    p.add_argument("--data", default=None, help="the dataset (default: the base's own, from the data folder)")
    p.add_argument("--epochs", type=int, default=1, help="epochs of the lab's run to measure")
    p.add_argument("--lr", type=float, default=None, help="in place of the lab's default learning rate")
    p.add_argument("--backbone-lr-scale", type=float, default=None, help="in place of the lab's default")
    p.add_argument("--label-smoothing", type=float, default=None, help="in place of the lab's default")
    p.add_argument("--schedule", default=None, help="in place of the lab's default")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    overrides = {k: getattr(args, k) for k in ("lr", "backbone_lr_scale", "label_smoothing", "schedule")
                 if getattr(args, k) is not None}
    base = CHECKPOINTS_DIR / args.base
    source = read_config(base)["dataset"]["source"]
    data = args.data or str(next(DATA_DIR.glob(f"{source}*"), source))
    result = measure(base, data, args.epochs, **overrides)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"{result['base']}: validation top-1 {result['before']['val_acc']:.2%} before the first step "
              f"({result['before']['val_images']} images), " + ", ".join(
                  f"{e['val_acc']:.2%} after epoch {e['epoch']}" for e in result["after_epochs"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
