"""Make a trained checkpoint ready to ship: a small held-out evaluation sample and the caches that let the
error-analysis and "inside the CNN" views open offline from a fresh clone.

    python -m core.bundle checkpoints/cifar10-resnet --per-class 50 [--int8 | --int4]

The sample is drawn from the checkpoint's own validation split (re-created from config.json's dataset
fields), so the model never trained on it. It is written as ``eval_sample.zip``, an image folder
``val/<class>/<file>`` holding the original image files.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from dataclasses import replace
from pathlib import Path

from core.checkpoint import FLOAT16, INT4, INT8, _replace_dir, load_checkpoint, round_trip, save_checkpoint
from core.data import load_split, parse_merge, per_class_sample, write_sample_zip
from core.errors import ConfigError, UserError
from core.evaluate import SAMPLE_NAME, build_eval_cache, default_tta, measure_validation
from core.explain import CHANNEL_INDEX_FILE, channel_index
from core.report import model_card, train_command
from core.wise import check_alpha, mix, start_source, start_state, unmixed_checkpoint


def write_eval_sample(checkpoint_dir: str | Path, per_class: int, seed: int = 0, data: str | None = None,
                      config: dict | None = None) -> Path:
    """Write ``eval_sample.zip`` into the checkpoint: up to ``per_class`` validation images of each class.
    ``config`` is the checkpoint's config.json contents when the caller has already loaded it."""
    checkpoint_dir = Path(checkpoint_dir)
    config = config or load_checkpoint(checkpoint_dir).config
    ds = config["dataset"]
    val = load_split(data or ds["source"], "val", ds.get("val_fraction", 0.1), ds.get("seed", 0),
                     config["input_size"], parse_merge(ds["merge"]) if ds.get("merge") else None)
    return write_sample_zip(val.subset(per_class_sample(val.labels, per_class, seed)), checkpoint_dir / SAMPLE_NAME)


def _same_training(run_dir: Path, run_config: dict, ckpt) -> bool:
    """True if the checkpoint holds the run's own training (a copy of the run promoted again, say after keeping a
    float32 copy before --int8): the same recipe and the same per-epoch history, timings included."""
    metrics = json.loads((run_dir / "metrics.json").read_text()) if (run_dir / "metrics.json").exists() else {}
    return (ckpt.config.get("recipe") == run_config.get("recipe")
            and bool(metrics.get("history")) and ckpt.metrics.get("history") == metrics.get("history"))


def promote(run_dir: str | Path, checkpoint_dir: str | Path) -> Path:
    """Replace ``checkpoint_dir`` by ``run_dir``. When the run was fine-tuned from the checkpoint (``--init-from``
    it), the older stages' commands and figures go into config.json's ``lineage`` so the model card still tells
    how to reproduce it from scratch; a run trained from scratch replaces it with no lineage."""
    run_dir, checkpoint_dir = Path(run_dir), Path(checkpoint_dir)
    config = json.loads((run_dir / "config.json").read_text())
    init_from = (config.get("recipe") or {}).get("init_from")
    if not init_from or Path(init_from).resolve() != checkpoint_dir.resolve():
        config.pop("lineage", None)
    elif not _same_training(run_dir, config, old := load_checkpoint(checkpoint_dir)):  # else a copy of it: no new stage
        config["lineage"] = (old.config.get("lineage") or []) + [{
            "command": train_command(checkpoint_dir.name, old.config),
            "epochs": old.metrics.get("epochs_run"), "train_seconds": old.metrics.get("train_seconds", 0),
            "val_top1": (old.metrics.get("val") or {}).get("top1"),
        }]
    tmp = checkpoint_dir.with_name(f".{checkpoint_dir.name}.promote")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(run_dir, tmp)
    (tmp / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    _replace_dir(tmp, checkpoint_dir)
    return checkpoint_dir


def store_quantized(checkpoint_dir: str | Path, weight_format: str, data: str | None = None,
                    int4_from: str | None = None) -> dict:
    """Re-save the checkpoint's weights as int8 or int4 (a quarter or about a seventh of float32, see
    core.checkpoint.quantize) and re-measure its validation figures on the quantized weights with the tta they were
    measured with; the float figures stay in metrics.json as ``val_float``. Returns the new ``val`` figures.
    int4_from: with int4, the layer it starts from (the earlier ones and the classifier stay int8).
    Weights already quantized are not quantized again (that would compound the error): re-train or re-combine."""
    checkpoint_dir = Path(checkpoint_dir)
    ckpt = load_checkpoint(checkpoint_dir)
    current = ckpt.config.get("weight_format")
    if (current, ckpt.config.get("int4_from")) == (weight_format, int4_from):
        return ckpt.metrics.get("val", {})
    if current:
        raise ConfigError(f"{checkpoint_dir} is already stored as {current}; quantize it from its float weights "
                          "(the run folder, or python -m core.ensemble on its members)")
    config = {**ckpt.config, "weight_format": weight_format, **({"int4_from": int4_from} if int4_from else {})}
    round_trip(ckpt.model, weight_format, int4_from)
    return _save_remeasured(checkpoint_dir, ckpt, config, "val_float", data)


def store_mix(checkpoint_dir: str | Path, alpha: float, data: str | None = None) -> dict:
    """Replace the checkpoint's weights by their mix with the pretrained network's (core.wise), fine-tuned share
    ``alpha``, and re-measure its validation figures (the fine-tuned network's stay in metrics.json as
    ``val_finetuned``); float16 weights stay float16. Returns the new ``val`` figures."""
    alpha = check_alpha(alpha)
    checkpoint_dir = Path(checkpoint_dir)
    ckpt = unmixed_checkpoint(checkpoint_dir)
    ckpt.model.load_state_dict(mix(ckpt.model.state_dict(), start_state(ckpt), alpha))
    config = {**ckpt.config, "wise": {"alpha": alpha, "init_from": start_source(ckpt)}}
    return _save_remeasured(checkpoint_dir, ckpt, config, "val_finetuned", data)


def _save_remeasured(checkpoint_dir: Path, ckpt, config: dict, previous: str, data: str | None) -> dict:
    """Save ``ckpt``'s (changed) weights under ``config`` with validation figures measured anew at its tta, the old
    ones kept in metrics.json as ``previous``, the temperature refitted and the card rewritten. Returns ``val``."""
    metrics = {**ckpt.metrics, previous: ckpt.metrics.get("val"),
               **measure_validation(replace(ckpt, config=config), default_tta(ckpt), data)}
    config["temperature"] = metrics["val_calibrated"]["temperature"]
    save_checkpoint(checkpoint_dir, ckpt.model, config, metrics, model_card(checkpoint_dir.name, config, metrics))
    return metrics["val"]


def bundle(checkpoint_dir: str | Path, per_class: int, data: str | None = None) -> list[Path]:
    """The sample plus every cache the app knows how to precompute. Returns the files written."""
    checkpoint_dir = Path(checkpoint_dir)
    ckpt = load_checkpoint(checkpoint_dir)
    # The card is rewritten under the folder's current name (a run may have been trained elsewhere and moved).
    (checkpoint_dir / "README.md").write_text(model_card(checkpoint_dir.name, ckpt.config, ckpt.metrics))
    sample = write_eval_sample(checkpoint_dir, per_class, data=data, config=ckpt.config)
    with open(checkpoint_dir / "README.md", "a") as card:
        card.write(
            "\n## Bundled evaluation sample\n"
            f"`{SAMPLE_NAME}` holds up to {per_class} validation images per class that the model never trained on "
            "(an image folder `val/<class>/<file>` with the original files); `eval_cache.safetensors` holds its "
            "predictions and `channel_top_images.json` the images that excite each channel most, so the app's "
            "error-analysis and inside views work offline.\n")
    written = [checkpoint_dir / "README.md", sample]
    written.append(Path(build_eval_cache(checkpoint_dir)))
    channel_index(ckpt)  # keyed by the weights and the sample just written
    written.append(checkpoint_dir / CHANNEL_INDEX_FILE)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", help="checkpoint folder")
    parser.add_argument("--per-class", type=int, default=50, help="validation images per class in the sample")
    parser.add_argument("--data", default=None, help="dataset path if it moved since training")
    parser.add_argument("--promote", default=None, metavar="RUN_DIR",
                        help="first replace the checkpoint by this run (a run fine-tuned from it keeps its lineage)")
    precision = parser.add_mutually_exclusive_group()
    precision.add_argument("--int8", action="store_true",
                           help="store the weights as int8 (a quarter of float32) and re-measure the validation figures")
    precision.add_argument("--float16", action="store_true",
                           help="store the weights as float16 (half of float32; for a network that int8 costs accuracy)")
    precision.add_argument("--int4", action="store_true",
                           help="store the weights as int4 in groups of 32 (4.5 bits a weight) and re-measure")
    parser.add_argument("--int4-from", default=None, metavar="LAYER",
                        help="with --int4: the layers before this one (e.g. stage3) stay int8")
    parser.add_argument("--wise", type=float, default=None, metavar="ALPHA",
                        help="first mix the fine-tuned weights with those of the network they started from: ALPHA of "
                             "the fine-tuned, the rest pretrained (core.wise), and re-measure")
    args = parser.parse_args(argv)
    if args.int4_from and not args.int4:
        print("error: --int4-from goes with --int4", file=sys.stderr)
        return 2
    try:
        if args.promote:
            promote(args.promote, args.checkpoint)
        if args.wise is not None:
            val = store_mix(args.checkpoint, args.wise, args.data)
            print(f"mixed {args.wise:g} fine-tuned with {1 - args.wise:g} pretrained: validation top-1 {100 * val['top1']:.2f}%")
        if args.int8 or args.int4 or args.float16:
            fmt = INT8 if args.int8 else FLOAT16 if args.float16 else INT4
            val = store_quantized(args.checkpoint, fmt, args.data, args.int4_from)
            print(f"{fmt} weights: validation top-1 {100 * val['top1']:.2f}%")
        for path in bundle(args.checkpoint, args.per_class, args.data):
            print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB)")
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
