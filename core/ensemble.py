"""Ensembles: networks trained on the same validation split vote by averaging their probabilities.

    python -m core.ensemble runs/cifar10-resnet-group runs/cifar10-resnet-seed1 --output-dir runs/cifar10-ensemble \
        --tta 2 --int8    (or --int4)

The members must agree on classes, input size, normalisation and validation split (dataset fingerprint,
fraction, split seed, merges), so the ensemble's validation figures come from images none of them trained on.
The result is an ordinary checkpoint folder (config.json lists the members; weights ``members.<i>.*``) that
every view of the app opens; the inside views show its first member.

A member may also be an ensemble's folder, for all of its networks, or FOLDER:2,5 for some of them (numbered from 1,
as in its card): a shipped ensemble gains or loses a network without the runs its members were trained in.

    python -m core.ensemble checkpoints/cifar10-resnet runs/cifar10-resnet-seed3 --output-dir runs/cifar10-ensemble4 ...
    python -m core.ensemble checkpoints/cifar10-resnet:1,2 --output-dir runs/cifar10-ensemble2 ...
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from core.checkpoint import INT4, INT8, WEIGHT_FORMATS, Checkpoint, load_checkpoint, round_trip, save_checkpoint
from core.config import SPLIT_KEYS
from core.errors import ConfigError, UserError
from core.evaluate import default_tta, measure_validation
from core.models import Ensemble, count_parameters
from core.report import model_card

MAX_MEMBERS = 8
MUST_AGREE = ("classes", "input_size", "mean", "std", "groups")


def check_members(ckpts: list[Checkpoint]) -> None:
    """Raise ConfigError unless the checkpoints can vote together and share one validation split."""
    if not 2 <= len(ckpts) <= MAX_MEMBERS:
        raise ConfigError(f"an ensemble needs 2 to {MAX_MEMBERS} networks, got {len(ckpts)}")
    first = ckpts[0]
    for other in ckpts[1:]:
        for key in MUST_AGREE:
            if other.config.get(key) != first.config.get(key):
                raise ConfigError(f"{other.path} has other {key} than {first.path}; ensemble members must agree on it")
        a, b = first.config.get("dataset", {}), other.config.get("dataset", {})
        for key in SPLIT_KEYS:
            if a.get(key) != b.get(key):
                raise ConfigError(f"{other.path} was validated on another split than {first.path} (dataset {key}: "
                                  f"{b.get(key)!r} vs {a.get(key)!r}); train it with --split-seed {a.get('seed')}")


def member_entry(ckpt: Checkpoint) -> dict:
    """What config.json keeps about one member: enough to rebuild it and to reproduce it."""
    return {
        "arch": ckpt.config["arch"], "arch_kwargs": ckpt.config.get("arch_kwargs", {}),
        "source": ckpt.path.name if ckpt.path else "", "recipe": ckpt.config.get("recipe", {}),
        "lineage": ckpt.config.get("lineage") or [], "teacher": ckpt.config.get("teacher"),
        "val_top1": (ckpt.metrics.get("val") or {}).get("top1"), "tta": ckpt.metrics.get("tta"),
        "epochs_run": ckpt.metrics.get("epochs_run"), "train_seconds": ckpt.metrics.get("train_seconds", 0),
        "parameters": ckpt.metrics.get("parameters"),
    }


def open_members(specs: list[str | Path]) -> list[tuple[Checkpoint, dict]]:
    """Each network the specs name, with what config.json keeps about it (``member_entry``).

    A spec is a checkpoint folder, an ensemble's folder (all its members) or ``FOLDER:2,5`` (members 2 and 5 of an
    ensemble, numbered from 1). A network taken out of an ensemble keeps its entry (recipe, lineage, own figures,
    training time); its Checkpoint carries the ensemble's config (classes, split) and, for member 1 only, the
    ensemble's metrics (member 1's curves, which the new card shows: so the first network named must be a checkpoint
    or member 1 of an ensemble). Raises ConfigError / CheckpointError."""
    out: list[tuple[Checkpoint, dict]] = []
    for spec in specs:
        folder, picks = str(spec), None
        match = re.fullmatch(r"(.+):(\d+(?:,\d+)*)", folder)
        if match and not Path(folder).is_dir():
            folder, picks = match[1], [int(n) for n in match[2].split(",")]
        ckpt = load_checkpoint(folder)
        if not isinstance(ckpt.model, Ensemble):
            if picks:
                raise ConfigError(f"{folder} is one network, not an ensemble: it has no members to pick with :{match[2]}")
            found = [(ckpt, member_entry(ckpt), folder)]
        else:
            nets, entries = list(ckpt.model.members), ckpt.config.get("members") or []
            if len(entries) != len(nets):
                raise ConfigError(f"{folder}/config.json lists {len(entries)} members for {len(nets)} networks")
            found = []
            for n in picks or range(1, len(nets) + 1):
                if not 1 <= n <= len(nets):
                    raise ConfigError(f"{folder} has members 1 to {len(nets)}, not {n}")
                if not out and not found and n != 1:  # the card shows the first network's curves: only member 1's are kept
                    raise ConfigError(f"the first network shown needs its training curves: list a checkpoint folder or "
                                      f"member 1 of {folder} first, not member {n}")
                found.append((Checkpoint(ckpt.path, nets[n - 1], ckpt.config, ckpt.metrics if n == 1 else {}),
                              dict(entries[n - 1]), f"member {n} of {folder}"))
        for net, entry, where in found:
            if any(_one_network(entry, e) for _, e in out):
                raise ConfigError(f"{where} is listed twice: it is the network trained as runs/{entry.get('source')}")
            out.append((net, entry))
    return out


def _one_network(a: dict, b: dict) -> bool:
    """Whether two member entries are one network (a run and its copy inside an ensemble, or one member twice)."""
    return all(a.get(k) == b.get(k) for k in ("source", "recipe", "lineage", "train_seconds"))


def build_ensemble(member_dirs: list[str | Path], output_dir: str | Path, tta: int | None = None,
                   weight_format: str | None = None, data: str | None = None, int4_from: str | None = None) -> Path:
    """Combine the checkpoints in ``member_dirs`` into one at ``output_dir``, measured on their validation split.

    tta: test-time augmentation for the figures (default: the first member's). weight_format "int8" or "int4"
    stores the weights quantized (see core.checkpoint.quantize; int4_from: the layer int4 starts from, int8 before
    it); the figures are measured on the quantized weights.
    data: the dataset if it moved since training. Raises ConfigError / CheckpointError / DataError.
    """
    if weight_format not in (None, *WEIGHT_FORMATS):
        raise ConfigError(f"weight format must be one of {', '.join(WEIGHT_FORMATS)} or none, got {weight_format!r}")
    if int4_from and weight_format != INT4:
        raise ConfigError("--int4-from goes with --int4")
    opened = open_members(member_dirs)
    ckpts, entries = [c for c, _ in opened], [e for _, e in opened]
    check_members(ckpts)
    first = ckpts[0]
    config = {k: v for k, v in first.config.items()
              if k not in ("lineage", "temperature", "weight_format", "int4_from", "members")}
    config["members"] = entries
    if weight_format:
        config["weight_format"] = weight_format
    if int4_from:
        config["int4_from"] = int4_from
    model = Ensemble([c.model for c in ckpts]).eval()
    if weight_format:  # measure exactly what will be loaded
        round_trip(model, weight_format, int4_from)
    tta = default_tta(first) if tta is None else int(tta)
    metrics = {
        **measure_validation(Checkpoint(None, model, config), tta, data), "members": len(ckpts),
        # the curves and epochs shown for an ensemble are its first member's; the time is all members'
        "best_epoch": first.metrics.get("best_epoch"), "epochs_run": first.metrics.get("epochs_run"),
        "train_seconds": round(sum(float(e.get("train_seconds") or 0) for e in entries), 1),
        "stopped_early": None, "parameters": count_parameters(model), "history": first.metrics.get("history", []),
    }
    config["temperature"] = metrics["val_calibrated"]["temperature"]
    output_dir = Path(output_dir)
    curves = first.path / "curves.png"
    save_checkpoint(output_dir, model, config, metrics, model_card(output_dir.name, config, metrics),
                    extra_files={"curves.png": curves} if curves.is_file() else None)
    return output_dir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("members", nargs="+", help="checkpoint folders, the first one shown in the inside views; "
                        "an ensemble's folder adds all its networks, FOLDER:2,5 its members 2 and 5")
    parser.add_argument("--output-dir", required=True)
    parser.add_argument("--tta", type=int, default=None, help="test-time augmentation for the figures (default: the first member's)")
    precision = parser.add_mutually_exclusive_group()
    precision.add_argument("--int8", action="store_true", help="store the weights as int8 with per-channel scales")
    precision.add_argument("--int4", action="store_true", help="store the weights as int4 with a scale per 32 weights")
    parser.add_argument("--int4-from", default=None, metavar="LAYER",
                        help="with --int4: the layers before this one (e.g. stage3) stay int8")
    parser.add_argument("--data", default=None, help="dataset path if it moved since training")
    args = parser.parse_args(argv)
    try:
        out = build_ensemble(args.members, args.output_dir, args.tta,
                             INT8 if args.int8 else INT4 if args.int4 else None, args.data, args.int4_from)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    metrics = json.loads((out / "metrics.json").read_text())
    size = sum(f.stat().st_size for f in out.iterdir() if f.name.startswith("model."))
    print(json.dumps({"output_dir": str(out), "val": metrics["val"], "tta": metrics["tta"], "weights_mb": round(size / 1e6, 2)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
