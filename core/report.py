"""The human-readable side of a checkpoint: the model card (README.md) and the training-curve plot."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on a server or in CI
import matplotlib.pyplot as plt  # noqa: E402

WEIGHT_FORMAT_NOTES = {
    "int8": ", stored as int8 with a float32 scale per output channel",
    "int4": ", stored as int4 (two weights a byte) with a float16 scale per 32 weights",
}


def _weight_format_options(config: dict) -> str:
    """The command-line options that store the weights as this config says (empty for float weights)."""
    if not config.get("weight_format"):
        return ""
    return f" --{config['weight_format']}" + (f" --int4-from {config['int4_from']}" if config.get("int4_from") else "")


def plot_history(history: list[dict], path: Path) -> Path:
    """Train vs validation loss and accuracy per epoch as a small PNG at ``path``. Returns ``path``."""
    epochs = [h["epoch"] for h in history]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(8, 3), dpi=80)
    ax_loss.plot(epochs, [h["train_loss"] for h in history], "o-", label="train")
    ax_loss.plot(epochs, [h["val_loss"] for h in history], "o-", label="validation")
    ax_loss.set(title="loss", xlabel="epoch")
    ax_acc.plot(epochs, [h["train_acc"] for h in history], "o-", label="train")
    ax_acc.plot(epochs, [h["val_acc"] for h in history], "o-", label="validation")
    ax_acc.set(title="accuracy", xlabel="epoch")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def train_command(name: str, config: dict, defaults: dict | None = None, output_dir: str | None = None) -> str:
    """The ``python -m core.train`` command that reproduces a checkpoint from its recorded recipe.

    defaults: the TrainConfig defaults as a dict (the trainer passes its own, so that a long run never re-imports
    ``core.train`` from a working tree that changed under it); None imports them.
    """
    r = config.get("recipe", {})
    defaults = _defaults() if defaults is None else defaults
    parts = ["python -m core.train", f"--data {shlex.quote(str(r.get('data', '?')))}",
             f"--output-dir {output_dir or f'checkpoints/{name}'}"]
    for key, value in r.items():
        if key in ("data", "output_dir") or value == defaults.get(key) or value is None:
            continue
        flag = "--" + key.replace("_", "-")
        if isinstance(value, bool):
            parts.append(flag if value else "")
        elif isinstance(value, dict):
            parts.append(f"{flag} {shlex.quote(json.dumps(value))}")
        else:
            parts.append(f"{flag} {shlex.quote(str(value))}")
    return " ".join(p for p in parts if p)


def _defaults() -> dict:
    from dataclasses import asdict

    from core.train import TrainConfig

    return asdict(TrainConfig())


def _progressive_note(recipe: dict, input_size: int) -> list[str]:
    start = recipe.get("progressive") or 0
    if not 0 < start < input_size:
        return []
    return [f"Trained with progressive resizing: {start}x{start} images first, growing to {input_size}x{input_size} for "
            "the last epochs. Validation is always measured at the full size, so the curves' early, "
            "low-resolution epochs score low on it.", ""]


def _pct(x) -> str:
    return "n/a" if x is None else f"{100 * x:.2f}%"


def _run_folders(entries: list[dict], unnamed: str) -> list[str]:
    """Where the card's commands put each network: runs/<the folder it was trained in>."""
    return [f"runs/{m.get('source') or f'{unnamed}{i}'}" for i, m in enumerate(entries, start=1)]


def _commands(name: str, entry: dict, folder: str, defaults: dict | None, done: set[str]) -> list[str]:
    """The commands that make one network (a checkpoint's config or an ensemble member's entry) at ``folder``: the
    stages it was fine-tuned from, the teacher it was distilled from (that teacher's own networks first), then its
    training. Folders in ``done`` are already made and are skipped; the new ones are added."""
    if folder in done:
        return []
    done.add(folder)
    commands = [s["command"] for s in entry.get("lineage") or []]
    teacher = entry.get("teacher")
    if teacher and teacher.get("path") not in done:
        parts = teacher.get("members") or []
        if parts:
            outs = _run_folders(parts, "teacher-member")
            for m, out in zip(parts, outs, strict=True):
                commands += _commands(name, m, out, defaults, done)
            commands.append(f"python -m core.ensemble {' '.join(outs)} --output-dir {teacher['path']}")
            done.add(teacher["path"])
        else:
            commands += _commands(name, teacher, teacher["path"], defaults, done)
    commands.append(train_command(name, {"recipe": entry.get("recipe", {})}, defaults, output_dir=folder))
    return commands


def _order_note(members: list[dict]) -> str:
    notes = []
    if any((m.get("recipe") or {}).get("init_from") for m in members):
        notes.append("one with `--init-from` fine-tunes an earlier one")
    if any(m.get("teacher") for m in members):
        notes.append("one with `--teacher` learns from an ensemble built before it")
    return f" ({'; '.join(notes)})" if notes else ""


def _ensemble_reproduce(name: str, config: dict, metrics: dict, defaults: dict | None) -> list[str]:
    """The model card's Reproduce section for an ensemble: each member's commands, then the one combining them."""
    members = config["members"]
    out = _run_folders(members, "member")
    commands: list[str] = []
    done: set[str] = set()
    for m, folder in zip(members, out, strict=True):
        commands += _commands(name, m, folder, defaults, done)
    combine = (f"python -m core.ensemble {' '.join(out)} --output-dir checkpoints/{name}"
               + (f" --tta {metrics['tta']}" if metrics.get("tta") is not None else "")
               + _weight_format_options(config))
    rows = [f"| {i} | `{folder}` | {m['arch']} `{json.dumps(m.get('arch_kwargs', {}))}` | {m.get('parameters') or 0:,} | "
            f"{m.get('epochs_run', '?')} | {(m.get('train_seconds') or 0) / 60:.1f} | {_pct(m.get('val_top1'))} (tta {m.get('tta')}) |"
            for i, (m, folder) in enumerate(zip(members, out, strict=True), start=1)]
    return [
        "",
        "## Reproduce",
        f"Train the {len(members)} members in this order{_order_note(members)}, then combine them:",
        "```",
        *commands,
        combine,
        "```",
        "",
        "| member | trained as | architecture | parameters | epochs | minutes | its own validation top-1 |",
        "|---|---|---|---|---|---|---|",
        *rows,
        "",
        f"Training time on this machine (2 CPU cores, shared with other work while it ran): "
        f"{metrics.get('train_seconds', 0) / 60:.1f} minutes for all members. The curves below are member 1's.",
    ]


def model_card(name: str, config: dict, metrics: dict, defaults: dict | None = None) -> str:
    """README.md text for a checkpoint: data, split, command, recipe, time, results, weaknesses."""
    ds, val = config.get("dataset", {}), metrics.get("val", {})
    cal = metrics.get("val_calibrated", {})
    groups = config.get("groups") or {}
    members = config.get("members") or []
    what = (f"An ensemble of {len(members)} networks that vote (their probabilities averaged), a classifier"
            if members else f"A `{config['arch']}` classifier")
    lines = [
        f"# {name}",
        "",
        f"{what} for {len(config['classes'])} classes of **{ds.get('name', '?')}**, "
        f"input {config['input_size']}x{config['input_size']} RGB, {metrics.get('parameters', 0):,} parameters. "
        "Weights in `model.safetensors` (continued in `model.2.safetensors`, ... when over 10 MB)"
        + WEIGHT_FORMAT_NOTES.get(config.get("weight_format"), "")
        + (f" from layer `{config['int4_from']}` on (the layers before it and the classifier int8)" if config.get("int4_from") else "")
        + "; architecture, classes, groups and normalisation in `config.json`."
        + (" The app's inside views (feature maps, filters, top images) show member 1; its Grad-CAM averages "
           "the members' maps." if members else ""),
        "",
        "## Data",
        f"- Source: `{ds.get('source', '?')}` (fingerprint `{ds.get('fingerprint', '?')}`).",
        f"- Split: {ds.get('train_images', '?'):,} training and {ds.get('val_images', '?'):,} validation images, "
        f"a stratified {ds.get('val_fraction', '?')} of the training folder held out with seed {ds.get('seed', '?')}. "
        "Nothing was tuned on any test set.",
        f"- Normalisation: mean {[round(m, 4) for m in config['mean']]}, std {[round(s, 4) for s in config['std']]}.",
    ]
    if groups:
        lines.append("- Groups: " + "; ".join(f"**{g}**: {', '.join(m)}" for g, m in groups.items()) + ".")
    stages = config.get("lineage") or []  # earlier training stages this checkpoint was fine-tuned from
    total_seconds = metrics.get("train_seconds", 0) + sum(s.get("train_seconds", 0) for s in stages)
    lines += _ensemble_reproduce(name, config, metrics, defaults) if members else [
        "",
        "## Reproduce",
        "Run these in order (each later stage fine-tunes or learns from a checkpoint an earlier one wrote):"
        if stages or config.get("teacher") else "",
        "```",
        *_commands(name, config, f"checkpoints/{name}", defaults, set()),
        *([f"python -m core.bundle checkpoints/{name}{_weight_format_options(config)}"] if config.get("weight_format") else []),
        "```",
        *[f"Stage {i}: {s.get('epochs', '?')} epochs, {s.get('train_seconds', 0) / 60:.1f} minutes, validation top-1 "
          f"{_pct(s.get('val_top1'))}." for i, s in enumerate(stages, start=1)],
        f"Recipe{' of the last stage' if stages else ''}: "
        f"`{ {k: v for k, v in config.get('recipe', {}).items() if k not in ('data', 'output_dir')} }`",
        "",
        f"Training time on this machine (2 CPU cores, shared with other work while it ran): {total_seconds / 60:.1f} minutes"
        + (" in all; the last stage " if stages else ", ")
        + f"{metrics.get('epochs_run', '?')} epochs (best epoch {metrics.get('best_epoch', '?')})"
        + (f", stopped by {metrics['stopped_early']}" if metrics.get("stopped_early") else "") + ".",
    ]
    lines += [
        "",
        "## Validation results",
        f"Measured on the {val.get('n', '?')} held-out validation images"
        + (f" with test-time augmentation level {metrics.get('tta')}" if metrics.get("tta") else "") + ":",
        "",
        "| metric | value |",
        "|---|---|",
        f"| top-1 | {_pct(val.get('top1'))} |",
        f"| top-5 | {_pct(val.get('top5'))} |",
        f"| group top-1 | {_pct(val.get('group_top1'))} |",
        f"| ECE (15 bins) | {val.get('ece', 0):.4f} (after temperature scaling, T={cal.get('temperature', 1):.3f}: "
        f"{cal.get('ece', 0):.4f}) |",
        "",
        f"Reproduce: `python -m core.evaluate --checkpoint checkpoints/{name} --data {ds.get('source', '?')} --split val"
        f"{' --tta ' + str(metrics.get('tta')) if metrics.get('tta') else ''} --json`",
        "",
        "![train vs validation loss and accuracy](curves.png)",
        "",
        *_progressive_note(config.get("recipe", {}), config["input_size"]),
        "## Known weaknesses",
        "Most-confused pairs on validation (true -> predicted, count, share of the true class):",
        "",
    ]
    lines += [f"- {p['true']} -> {p['predicted']}: {p['count']} ({100 * p['share']:.1f}%)"
              for p in metrics.get("most_confused", [])[:8]]
    worst = sorted(metrics.get("per_class", {}).items(), key=lambda kv: kv[1])[:5]
    if worst:
        lines += ["", "Weakest classes: " + ", ".join(f"{c} ({100 * a:.0f}%)" for c, a in worst) + "."]
    lines += ["", "It has only seen small, centred photos of its classes: anything else still gets one of these names."]
    return "\n".join(lines) + "\n"
