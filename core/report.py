"""The human-readable side of a checkpoint: the model card (README.md) and the training-curve plot."""

from __future__ import annotations

import json
import shlex
from dataclasses import asdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on a server or in CI
from matplotlib.figure import Figure  # noqa: E402

from core.config import TrainConfig  # noqa: E402

TRAIN_COLOUR, VAL_COLOUR = "#4c72b0", "#dd8452"  # the curves' colours, in the card and in the app alike

WEIGHT_FORMAT_NOTES = {
    "int8": ", stored as int8 with a float32 scale per output channel",
    "int4": ", stored as int4 (two weights a byte) with a float16 scale per 32 weights",
    "float16": ", stored as float16",
}


def _weight_format_options(config: dict) -> str:
    """The command-line options that store the weights as this config says (empty for float weights)."""
    if not config.get("weight_format"):
        return ""
    return f" --{config['weight_format']}" + (f" --int4-from {config['int4_from']}" if config.get("int4_from") else "")


def curves_figure(history: list[dict], best_epoch: int | None = None) -> Figure:
    """The training story: train vs validation loss and accuracy per epoch (metrics.json ``history``).
    A widening gap between the two is overfitting; the best (kept) epoch is marked. Built without pyplot, so a
    long-running server keeps no global figure registry that grows with every request."""
    fig = Figure(figsize=(9.0, 3.6), dpi=100)
    fig.set_layout_engine("constrained")
    fig.suptitle("Training story: a widening gap between train and validation is overfitting")
    ax_loss, ax_acc = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    if not history:
        for ax in (ax_loss, ax_acc):
            ax.text(0.5, 0.5, "no training history in metrics.json", ha="center", va="center", transform=ax.transAxes)
        return fig
    epochs = [h["epoch"] for h in history]
    for ax, key, title in ((ax_loss, "loss", "Loss"), (ax_acc, "acc", "Accuracy")):
        ax.plot(epochs, [h.get(f"train_{key}") for h in history], "o-", color=TRAIN_COLOUR, markersize=3, label="train")
        ax.plot(epochs, [h.get(f"val_{key}") for h in history], "o-", color=VAL_COLOUR, markersize=3, label="validation")
        if best_epoch:
            ax.axvline(best_epoch, color="#888888", linestyle=":", label=f"kept: epoch {best_epoch}")
        ax.set(title=f"{title} on training vs validation images, by epoch", xlabel="epoch")
        ax.title.set_fontsize(10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return fig


def plot_history(history: list[dict], path: Path, best_epoch: int | None = None) -> Path:
    """``curves_figure`` as the small PNG a model card shows, written to ``path``. Returns ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    curves_figure(history, best_epoch).savefig(path, dpi=80)
    return path


def train_command(name: str, config: dict, defaults: dict | None = None, output_dir: str | None = None) -> str:
    """The ``python -m core.train`` command that reproduces a checkpoint from its recorded recipe.

    defaults: the TrainConfig defaults as a dict; None takes the current ones (the trainer passes those it started
    with, so a long run's card matches its own recipe even when the working tree changed under it).
    """
    r = config.get("recipe", {})
    defaults = asdict(TrainConfig()) if defaults is None else defaults
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


def converted(config: dict) -> bool:
    """True for a network converted from published pretrained weights (``core.convert``), not trained here."""
    return bool(config.get("source")) and config.get("arch") == "mobilenetv2"


def convert_command(name: str, config: dict) -> str:
    """The ``python -m core.convert`` command that converts a pretrained checkpoint's weights again (with its storage
    format and evaluation sample, as config.json's recipe recorded them)."""
    src, r = config.get("source", {}), config.get("recipe") or {}
    command = (f"python -m core.convert --tflite ../shared/pretrained/{src.get('file', 'MODEL.tflite')} "
               f"--labels ../shared/pretrained/imagenet_labels.txt --input-size {config['input_size']}")
    if config.get("weight_format"):
        command += f" --weight-format {config['weight_format']}"
    if r.get("sample_data"):
        command += f" --sample-data {r['sample_data']} --per-class {r.get('per_class', 10)}"
    return command + f" --output-dir checkpoints/{name}"


def unsure_command(name: str) -> str:
    """The command that fits a checkpoint's "not sure" threshold on generated empty frames (core.unsure)."""
    return f"python -m core.unsure --checkpoint checkpoints/{name} --photos ../shared/pretrained/samples --write"


def reproduce_commands(name: str, config: dict, metrics: dict, defaults: dict | None = None,
                       per_class: int | None = None) -> list[str]:
    """The commands, in order, that make checkpoint ``name`` again (what its card's Reproduce block shows): a converted
    network's conversion; a trained network's stages (a teacher's networks first) and the storing of its weights; an
    ensemble's members in order, then the command that combines them. ``per_class``: end with the bundle step that
    writes the evaluation sample (that many images a class) and the caches, which the card leaves out."""
    if converted(config):
        return [convert_command(name, config)] + ([unsure_command(name)] if config.get("unsure_threshold") else [])
    members = config.get("members") or []
    if members:
        folders = _run_folders(members, "member")
        commands: list[str] = []
        done: set[str] = set()
        for m, folder in zip(members, folders, strict=True):
            commands += _commands(name, m, folder, defaults, done)
        commands.append(f"python -m core.ensemble {' '.join(folders)} --output-dir checkpoints/{name}"
                        + (f" --tta {metrics['tta']}" if metrics.get("tta") is not None else "")
                        + _weight_format_options(config))
        store = ""  # the ensemble command has stored the weights in their format already
    else:
        commands = _commands(name, config, f"checkpoints/{name}", defaults, set())
        store = (f" --wise {config['wise']['alpha']:g}" if config.get("wise") else "") + _weight_format_options(config)
    if per_class:
        commands.append(f"python -m core.bundle checkpoints/{name} --per-class {per_class}{store}")
    elif store:
        commands.append(f"python -m core.bundle checkpoints/{name}{store}")
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
    rows = [f"| {i} | `{folder}` | {m['arch']} `{json.dumps(m.get('arch_kwargs', {}))}` | {m.get('parameters') or 0:,} | "
            f"{m.get('epochs_run', '?')} | {(m.get('train_seconds') or 0) / 60:.1f} | {_pct(m.get('val_top1'))} (tta {m.get('tta')}) |"
            for i, (m, folder) in enumerate(zip(members, out, strict=True), start=1)]
    return [
        "",
        "## Reproduce",
        f"Train the {len(members)} members in this order{_order_note(members)}, then combine them:",
        "```",
        *reproduce_commands(name, config, metrics, defaults),
        "```",
        "",
        "| member | trained as | architecture | parameters | epochs | minutes | its own validation top-1 |",
        "|---|---|---|---|---|---|---|",
        *rows,
        "",
        f"Training time on 2 CPU cores (shared with other work while it ran): "
        f"{metrics.get('train_seconds', 0) / 60:.1f} minutes for all members. The curves below are member 1's.",
    ]


def _wise_note(config: dict, metrics: dict) -> list[str]:
    """The card's line on weights mixed with the pretrained network's (core.wise); none for other checkpoints."""
    wise = config.get("wise")
    if not wise:
        return []
    alpha, alone = float(wise["alpha"]), (metrics.get("val_finetuned") or {}).get("top1")
    return ["", f"The weights are {alpha:g} x the fine-tuned network's + {1 - alpha:g} x those of `{wise.get('init_from')}` "
                "(its classifier's rows for these classes): a mix that keeps more of what the pretrained network knew "
                f"(`python -m core.wise`). The fine-tuned network alone: {_pct(alone)} validation top-1."]


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
        *reproduce_commands(name, config, metrics, defaults),
        "```",
        *[f"Stage {i}: {s.get('epochs', '?')} epochs, {s.get('train_seconds', 0) / 60:.1f} minutes, validation top-1 "
          f"{_pct(s.get('val_top1'))}." for i, s in enumerate(stages, start=1)],
        f"Recipe{' of the last stage' if stages else ''}: "
        f"`{ {k: v for k, v in config.get('recipe', {}).items() if k not in ('data', 'output_dir')} }`",
        "",
        f"Training time on 2 CPU cores (shared with other work while it ran): {total_seconds / 60:.1f} minutes"
        + (" in all; the last stage " if stages else ", ")
        + f"{metrics.get('epochs_run', '?')} epochs (best epoch {metrics.get('best_epoch', '?')})"
        + (f", stopped by {metrics['stopped_early']}" if metrics.get("stopped_early") else "") + ".",
        *_wise_note(config, metrics),
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


def pretrained_card(name: str, config: dict, metrics: dict) -> str:
    """The model card of a network converted from published pretrained weights (``core.convert``): where the weights
    come from (repository, commit, file, sha256), their licence and credit, how to convert them again, and what was
    measured here."""
    src = config.get("source", {})
    size = config["input_size"]
    stored = "int8 with a float32 scale per output channel" if config.get("weight_format") == "int8" else "float16"
    lines = [
        f"# {name}", "",
        f"MobileNetV2 1.0 trained on ImageNet-1k ({len(config['classes'])} classes) by Google, converted from TensorFlow Lite "
        f"to PyTorch by `core.convert`. The app feeds it {size}x{size} photos; weights stored as {stored}.", "",
        "## Source and licence", "",
        f"- Repository: {src.get('repository', '?')} (commit `{src.get('commit', '?')}`)",
        f"- File: `{src.get('file', '?')}`, sha256 `{src.get('sha256', '?')}`",
        f"- Licence: {src.get('licence', '?')} (the weights); the ImageNet images' own terms of use apply to the data.",
        "- Credit: Google; MobileNetV2: M. Sandler, A. Howard, M. Zhu, A. Zhmoginov, L.-C. Chen, *MobileNetV2: Inverted "
        "Residuals and Linear Bottlenecks*, CVPR 2018.", "",
        "The file's convolutions (batch norm folded in, SAME padding, ReLU6) are dequantised ((q - zero point) x scale) "
        "into an ordinary PyTorch network; its 'background' output is dropped, so class i is ImageNet class i. The "
        f"input scaling the file declares becomes mean {config['mean'][0]:.4f} and std {config['std'][0]:.4f} on pixels / 255.",
        "", "## Groups", "",
        "Each class belongs to one of these groups (`core/imagenet_groups.json`): "
        + ", ".join(f"{g} ({len(m)})" for g, m in config.get("groups", {}).items()) + ".", "",
    ]
    sample, unsure = metrics.get("sample") or {}, metrics.get("unsure") or {}
    if sample or unsure:
        lines += ["## Measured", ""]
    if sample:
        lines += [f"- Evaluation sample (`eval_sample.zip`, for the Error analysis tab): {sample['images']} validation "
                  f"images of {sample['source']} ({sample['classes']} ImageNet classes, 64x64 photos upscaled to {size} "
                  f"px): top-1 {_pct(sample['top1'])} among all 1000 classes, {_pct(sample['top1_among_present'])} "
                  "among the classes the sample holds. Low-resolution photos lose much of what the network knows; "
                  "sharp photos score far higher (Google's published ImageNet top-1 for this file: 70.8%)."]
    if unsure:
        kinds = ", ".join(f"{k} {_pct(v)}" for k, v in unsure["empty_not_sure"].items() if k != "all")
        lines += [f"- \"Not sure\" below a top probability of {unsure['threshold']:.3f}, fitted by `core.unsure` on "
                  f"generated camera frames with nothing to name: on other such frames it says \"not sure\" for "
                  f"{_pct(unsure['empty_not_sure']['all'])} ({kinds}), and answers with confidence on "
                  f"{_pct(unsure.get('photos_confident'))} of {unsure.get('photo_views', 0)} views of sharp sample photos."]
    if sample or unsure:
        lines.append("")
    lines += ["## Reproduce", "", "```bash", *reproduce_commands(name, config, metrics), "```", ""]
    return "\n".join(lines)
