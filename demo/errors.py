"""The Error analysis tab: where and why the model goes wrong, in a few clicks.

Thin callbacks over core.evaluate (metrics, the evaluation cache, cells, comparisons) and core.explain
(Grad-CAM); the figures come from demo.plots. Every callback is a plain function of the tab's inputs
(``load_view``, ``show_cell``, ``random_image``, ``compare_view``), so it can be tested without a browser.

What is on screen is described by a small ``view`` dict kept in gr.State: {"model": checkpoint folder,
"source": dataset as typed or None for the bundled sample, "split": None for automatic, "tta": None for the
model card's}. Evaluations come from the disk cache (core.evaluate.cached_evaluation), so callbacks re-open
them instead of keeping (N, C) arrays per visitor.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path

import gradio as gr
import numpy as np
import pandas as pd
import torch

from core.checkpoint import Checkpoint, CheckpointStore, read_config
from core.data import CIFAR_NAMES, ImageSet, resolve_source
from core.errors import DataError, UserError
from core.evaluate import (
    SAMPLE_NAME,
    Evaluation,
    bundled_sample,
    cached_evaluation,
    cell_indices,
    class_index,
    compare_predictions,
    confusion_matrix,
    evaluation_report,
    group_confusion,
    load_eval_set,
    pick_random,
)
from core.predict import to_model_input
from demo import plots
from demo.common import user_message

GALLERY_LIMIT = 24  # Grad-CAMs per cell: enough to see a pattern, few enough to come back in a second
TILE = 112  # display side of one image in the gallery (the model's 32 or 64 px are scaled up)
# "automatic": the model card's level on the bundled sample (computed once, shipped in the cache), none on a
# typed dataset, where the model card's mirror + shifts would mean 6 passes per image: minutes for 10,000
TTA_CHOICES = [("automatic", -1), ("off", 0), ("mirror", 1), ("mirror + 1-pixel shifts", 2)]
TTA_NAMES = {0: "no test-time augmentation", 1: "mirror test-time augmentation",
             2: "mirror + shift test-time augmentation"}
SPLIT_CHOICES = [("automatic", "auto"), ("validation", "val"), ("test", "test"), ("train", "train")]
PAIR_COLUMNS = ["true class", "predicted as", "count", "share of the true class"]
# One plain sentence beside each figure: how to read it
READ_CONFUSION = ("**How to read it:** each row is one true class and adds up to 100%; the outlined diagonal holds the "
                  "right answers, and every other coloured cell is a mistake: images of the row's class taken for "
                  "the column's. **Click a cell** to see its images.")
READ_PER_CLASS = ("How often the images of each class are recognised, worst first; red bars are below the mean "
                  "(dashed line).")
READ_CONFIDENCE = ("How sure the model was (its top probability) when it was right (green) and when it was wrong "
                   "(red): red bars far to the right are confident mistakes.")
READ_RELIABILITY = ("**Reliability diagram:** the answers sorted into bands of confidence; a bar's height is how often "
                    "the answers in its band were right, so a well calibrated model sits on the dashed diagonal and "
                    "bars below it mean overconfidence. **ECE** (expected calibration error): on average how far the "
                    "confidence is from the real hit rate; 0 is perfect. **Temperature scaling** divides the scores by "
                    "one number T before the probabilities: T below 1 makes the answers more confident, above 1 less.")
READ_CURVES = ("Loss (lower is better) and accuracy after each epoch (one pass over the training images), on the "
               "training images and on validation images the model never learned from: when validation stops "
               "improving while training still does, the model is memorising (overfitting).")
READ_COMPARE = ("Each bar is a class: to the right, model B recognises it more often than this model; to the left, "
                "less often.")


# ---------------------------------------------------------------------------------------------------------------
# Opening an evaluation


def own_places(ctx) -> list[Path]:
    """The folders the tab may read evaluation sets from: the checkpoint folders (their bundled samples), the runs
    folder (trained models, uploads and captured snapshots) and the app's data folder."""
    return [Path(d).resolve() for d in [*ctx.store.dirs, ctx.runs_dir, ctx.data_dir]]


def checked_source(ctx, text: str | None) -> str | None:
    """The evaluation set a visitor typed, as a path inside the app's own places (see own_places) or a CIFAR name;
    None (the model's bundled sample) when blank. Raises DataError for anything else: the box must not open other
    folders of the server (a private photo folder, /etc) for a visitor, and with training off it does not exist."""
    text = (text or "").strip()
    if not text:
        return None
    if not ctx.allow_training:
        raise DataError("this app shows each model's bundled evaluation sample only; leave the evaluation set empty")
    if text in CIFAR_NAMES:
        return text
    places = own_places(ctx)

    def check(path: Path) -> None:
        if not any(path == place or place in path.parents for place in places):
            raise DataError("the evaluation set must be one of this app's own: leave it empty for the model's bundled "
                            "sample, or name a dataset of its data or runs folder (or cifar10 / cifar100); other "
                            "folders of the server are not opened")

    if "/" in text or text.startswith(("~", ".")):
        try:  # refused before looking at the disk, so the answer does not tell which server paths exist
            check(Path(text).expanduser().resolve())
        except (OSError, RuntimeError) as err:
            raise DataError(f"cannot read the evaluation set {text[:80]!r}") from err
    path = Path(resolve_source(text)).resolve()
    check(path)  # again after following links
    return str(path)


def make_view(model: str | None, source: str | None = None, split: str | None = "auto", tta: int | None = -1) -> dict:
    """The tab's inputs as a view dict: blank source = bundled sample, "auto" split and tta -1 = defaults."""
    source = (source or "").strip() or None
    return {"model": model, "source": source, "split": None if split in (None, "", "auto") else split,
            "tta": None if tta in (None, -1, "-1") else int(tta)}


def open_view(store: CheckpointStore, view: dict) -> tuple[Checkpoint, Evaluation]:
    """The checkpoint and its (cached) evaluation for a view. Raises UserError with a message to show."""
    if not view.get("model"):
        raise DataError("choose a model in the Model menu at the top")
    ckpt = store.get(view["model"])
    ev = cached_evaluation(ckpt, view.get("source"), view.get("split"), view_tta(view))
    return ckpt, ev


def view_tta(view: dict) -> int | None:
    """The tta level of a view: as chosen, else None (the model card's) on the bundled sample and 0 elsewhere."""
    if view.get("tta") is not None:
        return int(view["tta"])
    return None if view.get("source") is None else 0


_image_sets: OrderedDict[tuple, ImageSet] = OrderedDict()
_image_sets_lock = threading.Lock()


def eval_images(ckpt: Checkpoint, view: dict, ev: Evaluation) -> ImageSet:
    """The evaluation images (aligned to ``ev``'s indices), kept in memory for the last two sets opened."""
    source = view.get("source") or bundled_sample(ckpt)
    key = (str(ckpt.path), ev.key.get("dataset"))
    with _image_sets_lock:
        if key in _image_sets:
            _image_sets.move_to_end(key)
            return _image_sets[key]
    ds = load_eval_set(ckpt, source, ev.split)
    if len(ds) != ev.n or not torch.equal(ds.labels, ev.labels):
        raise DataError("the evaluation set changed since it was evaluated; press Evaluate to recompute")
    with _image_sets_lock:
        _image_sets[key] = ds
        while len(_image_sets) > 2:
            _image_sets.popitem(last=False)
    return ds


def describe_set(ckpt: Checkpoint, ev: Evaluation) -> str:
    """One line saying which images the tab shows and how many."""
    what = {"val": "validation", "test": "test", "train": "training"}[ev.split]
    if ev.source == SAMPLE_NAME:
        name = f"the **bundled evaluation sample** of {ckpt.name} (`{SAMPLE_NAME}`: held-out validation images)"
    else:
        name = f"**{ev.source}** ({what} split)"
    how = "opened from the cache" if ev.from_cache else f"computed in {ev.seconds:.1f} s and cached"
    return f"Showing {name}: **{ev.n:,} images**, {TTA_NAMES.get(ev.tta, f'tta {ev.tta}')}; {how}."


def headline(report: dict) -> str:
    """Top-1, top-5, group accuracy, errors and calibration as one markdown paragraph."""
    parts = [f"Top-1 **{report['top1']:.1%}**", f"top-5 **{report['top5']:.1%}**"]
    if report.get("group_top1") is not None:
        parts.append(f"group ({' / '.join(report['group_names'])}) **{report['group_top1']:.1%}**")
    parts.append(f"**{report['errors']:,}** misclassified")
    parts.append(f"calibration error (ECE) {report['ece']:.3f}, {report['ece_calibrated']:.3f} after temperature "
                 f"scaling (T = {report['temperature']:.2f})")
    return " · ".join(parts)


def pairs_table(report: dict, top: int = 15) -> pd.DataFrame:
    """The most-confused pairs (each direction its own row) as a table."""
    rows = [[p["true"], p["predicted"], p["count"], f"{p['share']:.0%}"] for p in report["most_confused"][:top]]
    return pd.DataFrame(rows, columns=PAIR_COLUMNS)


MAX_MATRIX_CLASSES = 60  # beyond this the matrix shows only the classes the evaluation set holds
OTHER_CLASSES = "(any other class)"


def confusion_view(ev: Evaluation, level: str = "classes", highlight: tuple[int, int] | None = None) -> dict:
    """What the confusion matrix shows, as ``plots.confusion_figure``'s arguments: counts (R, R), names, title,
    highlight (a (true, predicted) class pair, moved to the shown rows and columns), unit ("class" or "group")."""
    if level == "groups" and ev.groups:
        counts = group_confusion(ev.probs, ev.labels, ev.classes, ev.groups)
        return {"counts": counts.numpy(), "names": list(ev.groups), "title": "Confusion between groups",
                "highlight": None, "unit": "group"}
    counts = confusion_matrix(ev.labels, ev.preds, len(ev.classes)).numpy()
    if len(ev.classes) <= MAX_MATRIX_CLASSES:
        return {"counts": counts, "names": list(ev.classes), "title": "Confusion between classes",
                "highlight": highlight, "unit": "class"}
    # Many classes (ImageNet's 1000) but few in the evaluation set: the rows and columns of the classes it holds,
    # and one more column for answers outside them.
    shown = sorted(set(ev.labels.tolist()))
    other = len(shown)
    position = {c: i for i, c in enumerate(shown)}
    small = np.zeros((other + 1, other + 1), dtype=np.int64)
    small[:other, :other] = counts[np.ix_(shown, shown)]
    small[:other, other] = counts[shown].sum(axis=1) - small[:other, :other].sum(axis=1)
    if highlight is not None:
        highlight = (position.get(highlight[0], other), position.get(highlight[1], other))
    names = [ev.classes[c] for c in shown] + [OTHER_CLASSES]
    return {"counts": small, "names": names, "title": f"Confusion between the {other} classes in this set",
            "highlight": highlight, "unit": "class"}


def confusion_plot(ev: Evaluation, level: str = "classes", highlight: tuple[int, int] | None = None):
    """The confusion matrix figure of classes, or of groups when asked and the model has them."""
    return plots.confusion_figure(**confusion_view(ev, level, highlight))


def confusion_picture(ev: Evaluation, level: str = "classes",
                      highlight: tuple[int, int] | None = None) -> tuple[np.ndarray, dict]:
    """The confusion matrix as a clickable picture: ((H, W, 3) uint8, cells), where cells is the grid's geometry
    (plots.grid_geometry) with the "names" of its rows and columns and the "unit", for ``clicked_cell``."""
    shown = confusion_view(ev, level, highlight)
    picture, geometry = plots.confusion_picture(**shown)
    return picture, {**geometry, "names": shown["names"], "unit": shown["unit"]}


def clicked_cell(cells: dict | None, x: float, y: float) -> tuple[str, str] | None:
    """The (true, predicted) names of the matrix cell at pixel (x, y) of ``confusion_picture``; None outside it."""
    hit = plots.cell_at(x, y, cells)
    if hit is None:
        return None
    return cells["names"][hit[0]], cells["names"][hit[1]]


def offered_classes(ev: Evaluation) -> list[str]:
    """The class names the cell menus offer: all of them, or with many classes those the set holds or was answered
    with (the menus filter as one types, so a name is found by typing part of it)."""
    if len(ev.classes) <= MAX_MATRIX_CLASSES:
        return list(ev.classes)
    return [ev.classes[i] for i in sorted(set(ev.labels.tolist()) | set(ev.preds.tolist()))]


def load_view(store: CheckpointStore, model: str | None, source: str | None, split: str | None, tta,
              level: str = "classes") -> dict:
    """Everything the tab shows for one model and evaluation set, as a dict of display values.

    Keys: view, status (markdown), headline, confusion ((H, W, 3) uint8 picture) and cells (where its cells are,
    for clicks: ``confusion_picture``), pairs (DataFrame), per_class, confidence, reliability, curves (figures),
    classes, first_pair ((true, predicted) names or None), groups (bool), comparable (models B may be: same classes).
    Raises UserError for a missing model, sample or dataset, or an unknown class folder.
    """
    view = make_view(model, source, split, tta)
    ckpt, ev = open_view(store, view)
    report = evaluation_report(ev, pairs=15)
    picture, cells = confusion_picture(ev, level)
    first = report["most_confused"][0] if report["most_confused"] else None
    return {
        "view": view,
        "status": describe_set(ckpt, ev),
        "headline": headline(report),
        "confusion": picture,
        "cells": cells,
        "pairs": pairs_table(report),
        "per_class": plots.per_class_figure(report["per_class"], report["per_class_count"]),
        "confidence": plots.confidence_figure(report["confidence"]),
        "reliability": plots.reliability_figure(report["reliability"], report["reliability_calibrated"],
                                                report["ece"], report["ece_calibrated"], report["temperature"]),
        "curves": plots.curves_figure(ckpt.metrics.get("history", []), ckpt.metrics.get("best_epoch")),
        "classes": offered_classes(ev),
        "first_pair": (first["true"], first["predicted"]) if first else None,
        "groups": bool(ev.groups),
        "comparable": comparable_models(store, ckpt),
    }


def comparable_models(store: CheckpointStore, ckpt: Checkpoint) -> list[tuple[str, str]]:
    """(label, path) of the other models with the same classes as ``ckpt`` (in any order): the ones a comparison
    image by image makes sense for. Read from their config.json, without loading their weights."""
    mine = set(ckpt.classes)
    found = []
    for label, path in store.choices():
        if ckpt.path is not None and Path(path).resolve() == ckpt.path.resolve():
            continue
        try:
            if set(read_config(path)["classes"]) == mine:
                found.append((label, path))
        except UserError:  # a broken folder is not offered; selecting it in the Model menu says what is wrong
            continue
    return found


# ---------------------------------------------------------------------------------------------------------------
# Images with their Grad-CAM


def explained_tiles(ckpt: Checkpoint, images: torch.Tensor, targets: list[int], size: int = TILE) -> list[np.ndarray]:
    """Per image, the picture and its Grad-CAM for ``targets`` side by side: (size, 2 * size, 3) uint8.

    images: (K, 3, H, W) uint8 at the model's input size. One batched Grad-CAM call for all of them.
    """
    if len(images) == 0:
        return []
    from core.explain import gradcam_batch, overlay  # grad-cam and OpenCV load only when images are shown

    cams = gradcam_batch(ckpt, to_model_input(images, ckpt.mean, ckpt.std), targets)
    tiles = []
    for pixels, cam in zip(images.permute(0, 2, 3, 1).numpy(), cams, strict=True):
        big = _upscale(pixels, size)
        tiles.append(np.concatenate([big, overlay(big, cam, alpha=0.45)], axis=1))
    return tiles


def _upscale(pixels: np.ndarray, size: int = TILE) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.fromarray(pixels).resize((size, size), Image.Resampling.BICUBIC))


def _prob_line(ev: Evaluation, probs: torch.Tensor, i: int) -> str:
    t, p = int(ev.labels[i]), int(ev.preds[i])
    if t == p:
        return f"{ev.classes[t]} ✓ {probs[i, t]:.0%}"
    return f"true {ev.classes[t]} {probs[i, t]:.0%} · predicted {ev.classes[p]} {probs[i, p]:.0%}"


def show_cell(store: CheckpointStore, view: dict, true: str | None, pred: str | None,
              limit: int = GALLERY_LIMIT) -> tuple[list[tuple[np.ndarray, str]], str, list[int]]:
    """The images of one confusion cell with their Grad-CAM (for the predicted class).

    Returns (gallery items [(tile, caption)], a markdown line, the cell's image indices (all of them, not just
    the ones shown)). Probabilities in captions are temperature-calibrated, as in the other tabs.
    """
    if not true or not pred:
        raise DataError("choose a true class and a predicted class")
    ckpt, ev = open_view(store, view)
    index = cell_indices(ev, true, pred).tolist()
    if not index:
        return [], f"No image of **{true}** was predicted as **{pred}**.", []
    shown = index[:limit]
    ds = eval_images(ckpt, view, ev)
    probs = ev.calibrated_probs()
    tiles = explained_tiles(ckpt, ds.images[shown], [int(ev.preds[i]) for i in shown])
    items = [(tile, _prob_line(ev, probs, i)) for tile, i in zip(tiles, shown, strict=True)]
    t = class_index(ev.classes, true)
    kind = "correctly recognised" if true == pred else f"predicted as **{pred}**"
    more = f" (showing the first {len(shown)})" if len(index) > len(shown) else ""
    text = (f"**{len(index)}** of {int((ev.labels == t).sum())} images of **{true}** {kind}{more}. "
            "Left: the image; right: Grad-CAM for the predicted class (red = what the prediction relied on).")
    return items, text, index


def random_image(store: CheckpointStore, view: dict, only_errors: bool = True,
                 generator: torch.Generator | None = None) -> tuple[np.ndarray | None, str]:
    """A random misclassified (or any) image with its Grad-CAM, prediction and true class."""
    ckpt, ev = open_view(store, view)
    i = pick_random(ev, only_errors, generator)
    if i is None:
        return None, "The model gets every image of this set right: there is no error to show."
    ds = eval_images(ckpt, view, ev)
    probs = ev.calibrated_probs()[i]
    tile = explained_tiles(ckpt, ds.images[i:i + 1], [int(ev.preds[i])], size=2 * TILE)[0]
    top = probs.topk(min(3, len(ev.classes)))
    t, p = int(ev.labels[i]), int(ev.preds[i])
    verdict = "✓ right" if t == p else "✗ wrong"
    lines = [f"**{verdict}** — image {i + 1} of {ev.n}. True class: **{ev.classes[t]}** ({probs[t]:.0%}); "
             f"predicted: **{ev.classes[p]}** ({probs[p]:.0%}).",
             "Top guesses: " + ", ".join(f"{ev.classes[c]} {v:.0%}" for v, c in zip(top.values.tolist(),
                                                                                   top.indices.tolist(), strict=True)),
             "Right half: Grad-CAM for the predicted class."]
    return tile, "  \n".join(lines)


def compare_view(store: CheckpointStore, view: dict, other: str | None, show: str = "only_a",
                 limit: int = GALLERY_LIMIT) -> tuple[str, object, list[tuple[np.ndarray, str]]]:
    """Compare the tab's model (A) with ``other`` (B) on the same images.

    Returns (markdown summary, per-class difference figure, gallery of images where only A is right
    (show="only_a") or only B is right ("only_b"), Grad-CAM of the model that is wrong).
    """
    if not other:
        raise DataError("choose a second model to compare with")
    ckpt_a, ev_a = open_view(store, view)
    ckpt_b = store.get(other)
    source = view.get("source") or bundled_sample(ckpt_a)  # B is judged on A's images
    ev_b = cached_evaluation(ckpt_b, source, ev_a.split, ev_a.tta)  # same images, same augmentation
    result = compare_predictions(ev_a, ev_b)
    a, b = ckpt_a.name, ckpt_b.name
    text = (f"On the same {result['n']:,} images: **{a}** {result['top1_a']:.1%} top-1, **{b}** {result['top1_b']:.1%}. "
            f"Both right on {result['both_right']:,}, both wrong on {result['both_wrong']:,}; only {a} right on "
            f"**{len(result['only_a']):,}**, only {b} right on **{len(result['only_b']):,}**.")
    figure = plots.compare_figure(result["per_class"], a, b)
    index = result[show].tolist()[:limit]
    wrong_ckpt, wrong_ev = (ckpt_b, ev_b) if show == "only_a" else (ckpt_a, ev_a)
    items = []
    if index:
        ds = eval_images(ckpt_a, view, ev_a)
        tiles = explained_tiles(wrong_ckpt, ds.images[index], [int(wrong_ev.preds[i]) for i in index])
        for tile, i in zip(tiles, index, strict=True):
            caption = (f"true {ev_a.classes[int(ev_a.labels[i])]} · {a}: {ev_a.classes[int(ev_a.preds[i])]} · "
                       f"{b}: {ev_b.classes[int(ev_b.preds[i])]}")
            items.append((tile, caption))
    return text, figure, items


# ---------------------------------------------------------------------------------------------------------------
# The tab


def build(ctx) -> dict:
    """Build the Error analysis tab inside the current gr.Tab; returns its components by name."""
    store: CheckpointStore = ctx.store
    gr.Markdown("### Where and why the model goes wrong\nWhich classes it confuses, the images behind each mistake "
                "and where it looked, how sure it is, and how it learned. Click a cell of the confusion matrix "
                "(its row is the true class, its column the answer) to see exactly those images.")
    view = gr.State(make_view(ctx.default_model()))
    with gr.Row(equal_height=True):
        if ctx.allow_training:
            source = gr.Textbox(label="Evaluation set", scale=4, elem_id="errors-source",
                                placeholder="empty: the model's bundled sample; or a dataset of the app's data or runs "
                                            "folder (a folder, a .zip/.tar.gz archive), cifar10, cifar100")
        else:  # a public host: each model's bundled sample only, and no box to type a server path into
            source = gr.State("")
        split = gr.Dropdown(SPLIT_CHOICES, value="auto", label="Split", scale=1)
        tta = gr.Dropdown(TTA_CHOICES, value=-1, label="Test-time augmentation", scale=1)
        evaluate = gr.Button("Evaluate", variant="primary", scale=1, elem_id="errors-evaluate")
    status = gr.Markdown("Open this tab with a model selected to see its errors.", elem_id="errors-status")
    summary = gr.Markdown(elem_id="errors-headline")
    with gr.Row():
        with gr.Column(scale=3):
            level = gr.Radio(["classes", "groups"], value="classes", label="Confusion matrix of", visible=True)
            confusion = gr.Image(label="Confusion matrix (rows: true class, each row sums to 100%; click a cell)",
                                 show_label=False, interactive=False, format="png", elem_id="errors-confusion",
                                 buttons=["fullscreen", "download"])
            gr.Markdown(READ_CONFUSION, elem_id="errors-read-confusion")
        with gr.Column(scale=2):
            gr.Markdown("**Most-confused pairs** (click a row to see its images)")
            pairs = gr.Dataframe(headers=PAIR_COLUMNS, interactive=False, elem_id="errors-pairs", wrap=True)
    with gr.Row(equal_height=True):
        true_class = gr.Dropdown([], label="True class", elem_id="errors-true", scale=2)
        pred_class = gr.Dropdown([], label="Predicted as", elem_id="errors-pred", scale=2)
        show = gr.Button("Show these images", elem_id="errors-show", scale=1)
    cell_text = gr.Markdown(elem_id="errors-cell-text")
    cell_gallery = gr.Gallery(label="Images of the chosen cell: image | Grad-CAM", columns=4, height="auto",
                              object_fit="contain", elem_id="errors-gallery")
    with gr.Row():
        with gr.Column():
            per_class = gr.Plot(label="Accuracy per class", show_label=False, format="png")
            gr.Markdown(READ_PER_CLASS)
        with gr.Column():
            confidence = gr.Plot(label="Confidence, right vs wrong", show_label=False, format="png")
            gr.Markdown(READ_CONFIDENCE)
    reliability = gr.Plot(label="Reliability diagram", show_label=False, format="png")
    gr.Markdown(READ_RELIABILITY, elem_id="errors-read-reliability")
    with gr.Row(equal_height=True):
        with gr.Column(scale=1):
            gr.Markdown("**Random error**: one click, one image the model got wrong (the project log's random EDA).")
            only_errors = gr.Checkbox(value=True, label="only misclassified images")
            draw = gr.Button("Random error", elem_id="errors-random")
            random_text = gr.Markdown()
        random_img = gr.Image(label="image | Grad-CAM", interactive=False, scale=2, elem_id="errors-random-image")
    curves = gr.Plot(label="Training story: train vs validation per epoch", show_label=False, format="png")
    gr.Markdown(READ_CURVES)
    with gr.Accordion("Compare with another model", open=False):
        with gr.Row(equal_height=True):
            other = gr.Dropdown([], value=None, label="Second model (B): the models with the same classes", scale=3,
                                elem_id="errors-other")
            which = gr.Radio([("only this model right", "only_a"), ("only B right", "only_b")], value="only_a",
                             label="Show images where", scale=2)
            compare = gr.Button("Compare", scale=1)
        compare_text = gr.Markdown()
        compare_plot = gr.Plot(label="Per-class accuracy difference", show_label=False, format="png")
        gr.Markdown(READ_COMPARE)
        compare_gallery = gr.Gallery(label="image | Grad-CAM of the model that is wrong", columns=4, height="auto")

    cells = gr.State({})  # where the matrix's cells are in its picture, for clicks
    load_outputs = [view, status, summary, confusion, cells, pairs, per_class, confidence, reliability, curves,
                    true_class, pred_class, level, cell_gallery, cell_text, other]

    def on_load(model, source_text, split_value, tta_value, level_value, announce=False):
        try:
            source_text = checked_source(ctx, source_text)
            out = load_view(store, model, source_text, split_value, tta_value, level_value)
        except Exception as err:  # noqa: BLE001 (user_message logs anything that is not the user's mistake)
            message = user_message(err)
            if announce:  # a typo in the set: say so and keep showing the last set (its status line stays true)
                gr.Warning(message)
                return tuple(gr.skip() for _ in load_outputs)
            # a model without a sample (or a broken one): clear the previous figures, they would mislead here
            return (make_view(model, None, split_value, tta_value), f"**{message}**", "", None, {}, None, None,
                    None, None, None, gr.Dropdown(choices=[], value=None), gr.Dropdown(choices=[], value=None),
                    gr.skip(), [], "", gr.Dropdown(choices=[], value=None))
        first = out["first_pair"] or (out["classes"][0], out["classes"][0])
        return ({**out["view"], "shown": True}, out["status"], out["headline"], out["confusion"], out["cells"],
                out["pairs"], out["per_class"], out["confidence"], out["reliability"], out["curves"],
                gr.Dropdown(choices=out["classes"], value=first[0]), gr.Dropdown(choices=out["classes"], value=first[1]),
                gr.Radio(visible=out["groups"]), [], "", gr.Dropdown(choices=out["comparable"], value=None))

    def on_tab(state, model, *rest):
        if state.get("shown") and state.get("model") == model:
            return tuple(gr.skip() for _ in load_outputs)
        return on_load(model, *rest)

    def on_cell(state, t, p):
        try:
            items, text, _ = show_cell(store, state, t, p)
        except Exception as err:  # noqa: BLE001
            gr.Warning(user_message(err))
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        try:
            ckpt, ev = open_view(store, state)
            picture, where = confusion_picture(ev, "classes", (class_index(ev.classes, t), class_index(ev.classes, p)))
        except Exception:  # noqa: BLE001 (the gallery is shown; the outline is a nicety)
            picture, where = gr.skip(), gr.skip()
        return items, text, picture, where

    def on_pair(state, evt: gr.SelectData):
        row = evt.row_value or []
        if len(row) < 2:
            return tuple(gr.skip() for _ in range(6))
        return gr.Dropdown(value=row[0]), gr.Dropdown(value=row[1]), *on_cell(state, row[0], row[1])

    def on_matrix(state, where, evt: gr.SelectData):
        index = evt.index if isinstance(evt.index, (list, tuple)) and len(evt.index) == 2 else None
        hit = clicked_cell(where, *index) if index else None
        if hit is None:
            return tuple(gr.skip() for _ in range(6))
        if where.get("unit") != "class":
            gr.Info("This matrix is of groups: choose \"classes\" above it to open a cell's images.")
            return tuple(gr.skip() for _ in range(6))
        if OTHER_CLASSES in hit:
            gr.Info(f"{OTHER_CLASSES} gathers answers outside the classes of this set: choose one in the "
                    "\"Predicted as\" menu to see those images.")
            return tuple(gr.skip() for _ in range(6))
        return gr.Dropdown(value=hit[0]), gr.Dropdown(value=hit[1]), *on_cell(state, *hit)

    def on_level(state, level_value):
        try:
            _, ev = open_view(store, state)
            return confusion_picture(ev, level_value)
        except Exception as err:  # noqa: BLE001
            gr.Warning(user_message(err))
            return gr.skip(), gr.skip()

    def on_random(state, only):
        try:
            return random_image(store, state, only)
        except Exception as err:  # noqa: BLE001
            gr.Warning(user_message(err))
            return gr.skip(), gr.skip()

    def on_compare(state, other_model, show_which):
        try:
            return compare_view(store, state, other_model, show_which)
        except Exception as err:  # noqa: BLE001
            message = user_message(err)
            gr.Warning(message)
            return f"**{message}**", gr.skip(), gr.skip()

    load_inputs = [ctx.model, source, split, tta, level] if ctx.model is not None else None
    if load_inputs:
        def on_evaluate(model, dataset, split_name, tta_level, matrix_of):
            return on_load(model, dataset, split_name, tta_level, matrix_of, announce=True)

        evaluate.click(on_evaluate, load_inputs, load_outputs, api_name="evaluate")
        if isinstance(source, gr.Textbox):
            source.submit(on_evaluate, load_inputs, load_outputs, api_visibility="private")
        ctx.model.change(on_load, load_inputs, load_outputs, api_visibility="private")
        tab = gr.context.Context.block  # the gr.Tab this is built in: compute when the tab is first opened
        if isinstance(tab, gr.Tab):
            # coming back to the tab keeps the chosen cell and set; only a new model reloads
            tab.select(on_tab, [view, *load_inputs], load_outputs, api_visibility="private")
    cell_outputs = [cell_gallery, cell_text, confusion, cells]
    show.click(on_cell, [view, true_class, pred_class], cell_outputs, api_name="confusion_cell")
    pairs.select(on_pair, [view], [true_class, pred_class, *cell_outputs], api_visibility="private")
    confusion.select(on_matrix, [view, cells], [true_class, pred_class, *cell_outputs], api_visibility="private")
    level.change(on_level, [view, level], [confusion, cells], api_visibility="private")
    draw.click(on_random, [view, only_errors], [random_img, random_text], api_name="random_error")
    compare.click(on_compare, [view, other, which], [compare_text, compare_plot, compare_gallery],
                  api_name="compare_models")
    return {"view": view, "source": source, "evaluate": evaluate, "status": status, "confusion": confusion,
            "pairs": pairs, "true_class": true_class, "pred_class": pred_class, "show": show,
            "gallery": cell_gallery, "random": draw, "random_image": random_img, "curves": curves,
            "compare": compare, "other": other}

