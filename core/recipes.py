"""One portable script per shipped model: ``recipes/<name>.sh`` makes ``checkpoints/<name>`` again from the training
data, on any machine. Its commands are the ones the model card shows (both come from the checkpoint's config.json
through ``core.report.reproduce_commands``), so card, recipe and checkpoint state each fact once;
``recipes/README.md`` says how long each took and what it should score (from metrics.json).

    python -m core.recipes            write recipes/ for every folder in checkpoints/
    python -m core.recipes --check    exit 1 when recipes/ differs from what the checkpoints say now

What a script changes in the card's commands, to run anywhere: the interpreter is ``$PYTHON`` (default ``python``);
a dataset is named, not given by path, and found in the data folder the script is given (default ``../shared/data``
beside the repository); pretrained weights come from ``../shared/pretrained`` (or the folder given); and the
``--max-minutes`` guard each run had is left out, so a slower machine trains the same epochs rather than stopping
early, except for a network that did stop at its limit (the script says how many epochs it had then).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import zipfile
from collections import Counter
from pathlib import Path

from core.checkpoint import CHECKPOINTS_DIR
from core.evaluate import SAMPLE_NAME
from core.report import converted, reproduce_commands

RECIPES_DIR = CHECKPOINTS_DIR.parent / "recipes"
PRETRAINED = "../shared/pretrained/"  # where a converted model's card says its weights come from


def sample_per_class(folder: Path) -> int | None:
    """Images per class in a checkpoint's evaluation sample (the most any class has); None without a sample."""
    path = folder / SAMPLE_NAME
    if not path.is_file():
        return None
    with zipfile.ZipFile(path) as archive:
        counts = Counter(n.split("/")[-2] for n in archive.namelist() if not n.endswith("/") and n.count("/") >= 2)
    return max(counts.values()) if counts else None


def training_seconds(config: dict, metrics: dict) -> float:
    """Seconds the networks behind a checkpoint trained, each network once: an ensemble's members, its teachers'
    networks and the earlier stages a network was fine-tuned from (0 for a converted network)."""
    seen: dict[str, float] = {}

    def add(entry: dict, key: str) -> None:
        if key in seen:
            return
        seen[key] = float(entry.get("train_seconds") or 0) + sum(float(s.get("train_seconds") or 0)
                                                                 for s in entry.get("lineage") or [])
        teacher = entry.get("teacher")
        if teacher:
            for m in teacher.get("members") or [teacher]:
                add(m, m.get("source") or m.get("path") or "teacher")

    members = config.get("members") or []
    for i, m in enumerate(members):
        add(m, m.get("source") or f"member{i}")
    if not members and not converted(config):
        add({**config, "train_seconds": metrics.get("train_seconds")}, "checkpoint")
    return sum(seen.values())


def _dataset_name(value: str) -> str:
    """A dataset as the scripts name it: a path becomes its file name, looked up in the data folder."""
    return Path(value.strip("'")).name


def _portable(command: str, keep_time_limit: bool = False) -> str:
    """A card's command as a script line: $PYTHON, datasets by name, no time guard (unless ``keep_time_limit``), one
    option a line."""
    command = re.sub(r"^python -m ", '"$PYTHON" -m ', command)
    if not keep_time_limit:
        command = re.sub(r" --max-minutes \S+", "", command)
    command = re.sub(r"--(data|sample-data) (\S+)", lambda m: f"--{m.group(1)} {_dataset_name(m.group(2))}", command)
    command = re.sub(re.escape(PRETRAINED) + r"(\S+)", r'"$PRETRAINED/\1"', command)
    return command.replace(" --", " \\\n    --")


def _expectation(metrics: dict) -> str:
    val = metrics.get("val") or {}
    if val.get("top1") is None:
        return "what its card (README.md) says was measured"
    tta = f", test-time augmentation level {metrics['tta']}" if metrics.get("tta") else ""
    return f"validation top-1 {100 * val['top1']:.2f}% on {val.get('n', '?'):,} held-out images{tta}"


def _what(name: str, config: dict) -> str:
    if converted(config):
        return f"MobileNetV2 converted from published ImageNet weights ({config.get('source', {}).get('file', '?')})"
    data = (config.get("dataset") or {}).get("source", "?")
    members = config.get("members") or []
    kind = f"an ensemble of {len(members)} networks" if members else f"one {config.get('arch', '?')} network"
    return f"{kind} trained on {Path(str(data)).name}"


def recipe(folder: Path) -> str:
    """The script that makes the checkpoint in ``folder`` again (bash, run from anywhere)."""
    name = folder.name
    config = json.loads((folder / "config.json").read_text())
    metrics = json.loads((folder / "metrics.json").read_text()) if (folder / "metrics.json").is_file() else {}
    limited = metrics.get("stopped_early") == "time limit"  # the time limit decided how many epochs it had
    commands = [_portable(c, limited) for c in reproduce_commands(name, config, metrics, per_class=sample_per_class(folder))]
    minutes = training_seconds(config, metrics) / 60
    if converted(config):
        where = ['PRETRAINED=$(cd "${1:-$(dirname "$0")/../../shared/pretrained}" && pwd)  # the weights and labels',
                 'DATA=$(cd "${2:-$(dirname "$0")/../../shared/data}" && pwd)  # the dataset of the evaluation sample',
                 'export WTCS_DATA_DIR="$DATA"  # a dataset named below is looked up there']
        usage = "[PRETRAINED_DIR [DATA_DIR]]   (defaults: ../shared/pretrained and ../shared/data beside the repository)"
    else:
        where = ['DATA=$(cd "${1:-$(dirname "$0")/../../shared/data}" && pwd)  # the folder holding the datasets',
                 'export WTCS_DATA_DIR="$DATA"  # a dataset named below is looked up there']
        usage = "[DATA_DIR]   (default: ../shared/data beside the repository)"
    lines = [
        "#!/usr/bin/env bash",
        f"# Makes checkpoints/{name} again: {_what(name, config)}.",
        f"# Expect {_expectation(metrics)}"
        + (f"; its networks trained for {minutes:.0f} minutes on 2 CPU cores." if minutes else "."),
        *([f"# Its training stopped at its --max-minutes limit after {metrics.get('epochs_run', '?')} of "
           f"{(config.get('recipe') or {}).get('epochs', '?')} epochs, so the limit stays: a faster machine fits more."]
          if limited else []),
        f"# Written by `python -m core.recipes` from checkpoints/{name}: run that again rather than editing this file.",
        f"# Usage: recipes/{name}.sh {usage}; PYTHON=python3.11 picks the interpreter.",
        "set -euo pipefail",
        "PYTHON=${PYTHON:-python}",
        *[w for w in where if not w.startswith("export")],
        'cd "$(dirname "$0")/.."',
        *[w for w in where if w.startswith("export")],
        "",
    ]
    return "\n".join(lines + [line for c in commands for line in (c, "")]).rstrip("\n") + "\n"


def readme(folders: list[Path]) -> str:
    """recipes/README.md: how to run the scripts, how long each takes, what each should score."""
    rows = []
    for folder in folders:
        config = json.loads((folder / "config.json").read_text())
        metrics = json.loads((folder / "metrics.json").read_text()) if (folder / "metrics.json").is_file() else {}
        minutes = training_seconds(config, metrics) / 60
        rows.append(f"| [`{folder.name}.sh`]({folder.name}.sh) | {_what(folder.name, config)} | "
                    f"{f'{minutes:.0f}' if minutes else 'none (converted)'} | {_expectation(metrics)} |")
    return "\n".join([
        "# Recipes: every shipped model, made again",
        "",
        "One script per folder in `checkpoints/`. Each runs, in order, the commands its model card lists: an ensemble's",
        "networks one after another (a network fine-tuned from, or distilled from, an earlier one comes after it), then",
        "the command combining them and storing their weights as int8 or int4, then `core.bundle`, which writes the",
        "evaluation sample and the caches the app opens offline. Networks are trained into `runs/`; the finished model",
        "replaces `checkpoints/<name>` (`git checkout checkpoints/<name>` brings the shipped one back).",
        "",
        "```bash",
        "recipes/cifar10-simplecnn.sh                       # datasets from ../shared/data beside the repository",
        "recipes/cifar10-simplecnn.sh ~/datasets            # or from a folder holding cifar10-train-jpg.tar.gz",
        "PYTHON=.venv/bin/python recipes/cifar10-simplecnn.sh",
        "```",
        "",
        "Training minutes are what the networks took on 2 CPU cores (shared with other work while they ran), each",
        "network counted once; evaluating, combining and bundling add a few minutes. The expected figures are the",
        "shipped checkpoints' own: a network trained again on other hardware comes out close to them, not necessarily",
        "identical (bfloat16 support, for one, changes the rounding).",
        "",
        "| recipe | makes | training minutes | expect |",
        "|---|---|---|---|",
        *rows,
        "",
        "The scripts are written by `python -m core.recipes` from each checkpoint's `config.json` and `metrics.json`;",
        "`tests/test_recipes.py` fails when they no longer match.",
        "",
    ])


def render(checkpoints_dir: Path = CHECKPOINTS_DIR) -> dict[str, str]:
    """{file name: text} of everything recipes/ should hold for the checkpoint folders in ``checkpoints_dir``."""
    folders = sorted(p for p in Path(checkpoints_dir).iterdir() if (p / "config.json").is_file())
    return {**{f"{p.name}.sh": recipe(p) for p in folders}, "README.md": readme(folders)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write recipes/<name>.sh for every checkpoint folder.")
    parser.add_argument("--checkpoints", default=str(CHECKPOINTS_DIR), help="folder of checkpoint folders")
    parser.add_argument("--output-dir", default=str(RECIPES_DIR), help="where the scripts go")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 when a file differs")
    args = parser.parse_args(argv)
    out = Path(args.output_dir)
    wanted = render(Path(args.checkpoints))
    stale = sorted(n for n, text in wanted.items() if not (out / n).is_file() or (out / n).read_text() != text)
    extra = sorted(p.name for p in out.glob("*.sh") if p.name not in wanted) if out.is_dir() else []
    if args.check:
        for n in stale + extra:
            print(f"{out / n} is out of date: python -m core.recipes", file=sys.stderr)
        return 1 if stale or extra else 0
    out.mkdir(parents=True, exist_ok=True)
    for n in stale:
        (out / n).write_text(wanted[n])
        if n.endswith(".sh"):
            (out / n).chmod(0o755)
        print(f"wrote {out / n}")
    for n in extra:
        (out / n).unlink()
        print(f"removed {out / n} (no such checkpoint)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
