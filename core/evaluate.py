"""How good is a checkpoint, and where does it go wrong.

    python -m core.evaluate --checkpoint checkpoints/cifar10-resnet --data cifar10-train-jpg --split val --json

Batch inference over uint8 tensors, then metrics: top-1/top-5, per-class and group accuracy, the
confusion matrix, the most-confused pairs and the expected calibration error (ECE). The last line of
stdout with ``--json`` is one JSON object.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from core.checkpoint import Checkpoint, load_checkpoint, weights_sha256
from core.data import (
    ImageSet,
    align_classes,
    cache_dir,
    cifar_root,
    dataset_splits,
    file_sha256,
    folder_fingerprint,
    load_images,
    load_split,
    parse_merge,
    resolve_source,
)
from core.device import bf16_helps
from core.errors import DataError, UserError
from core.predict import to_model_input

ECE_BINS = 15


# ---------------------------------------------------------------------------------------------------------------
# Inference


MAX_BATCH_PIXELS = 32 * 224 * 224  # see predict_logits


@torch.no_grad()
def predict_logits(
    model: torch.nn.Module, images: torch.Tensor, mean: list[float], std: list[float], batch_size: int = 500,
    tta: int = 0, autocast: bool = False,
) -> torch.Tensor:
    """Logits (N, classes) float32 for (N, 3, H, W) uint8 images, in batches.

    tta: 0 none; 1 average with the mirror image; 2 also with copies shifted by one pixel (as airbench).
    batch_size: images a forward pass at most, and no more than MAX_BATCH_PIXELS pixels (a batch of large
    images that leaves the CPU's caches runs slower per image: 224 px, 34 images/s at 64 a batch, 53 at 4).
    """
    model.eval()
    batch_size = max(1, min(batch_size, MAX_BATCH_PIXELS // max(1, images.shape[-1] * images.shape[-2])))
    device = next(model.parameters()).device
    out = []
    for start in range(0, len(images), batch_size):
        x = to_model_input(images[start:start + batch_size], mean, std).to(device)
        x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
            logits = _tta_logits(model, x, tta)
        out.append(logits.float().cpu())
    return torch.cat(out) if out else torch.zeros(0)


def _tta_logits(model: torch.nn.Module, x: torch.Tensor, tta: int) -> torch.Tensor:
    if tta <= 0:
        return model(x)
    mirrored = 0.5 * (model(x) + model(x.flip(-1)))
    if tta == 1:
        return mirrored
    pad = torch.nn.functional.pad(x, (1, 1, 1, 1), mode="reflect")
    h, w = x.shape[-2:]
    shifted = [pad[..., :h, :w], pad[..., 2:, 2:]]
    shifted_logits = sum(0.5 * (model(s) + model(s.flip(-1))) for s in shifted) / len(shifted)
    return 0.5 * mirrored + 0.5 * shifted_logits


# ---------------------------------------------------------------------------------------------------------------
# Metrics (all on CPU tensors)


def topk_accuracy(probs: torch.Tensor, labels: torch.Tensor, k: int) -> float:
    """Share of rows whose true label is among the k highest scores. probs: (N, C), labels: (N,)."""
    if len(labels) == 0:
        return 0.0
    k = min(k, probs.shape[1])
    return float((probs.topk(k, dim=1).indices == labels[:, None]).any(dim=1).float().mean())


def confusion_matrix(labels: torch.Tensor, preds: torch.Tensor, num_classes: int) -> torch.Tensor:
    """(C, C) int64 counts; row = true class, column = predicted class."""
    flat = labels * num_classes + preds
    return torch.bincount(flat, minlength=num_classes * num_classes).view(num_classes, num_classes)


def per_class_accuracy(confusion: torch.Tensor) -> torch.Tensor:
    """(C,) accuracy of each true class (NaN-free: a class with no images gets 0)."""
    totals = confusion.sum(dim=1)
    return confusion.diag().float() / totals.clamp(min=1).float()


def confusion_pairs(confusion: torch.Tensor, classes: list[str], top: int = 10) -> list[dict]:
    """The most frequent (true, predicted) mistakes, largest first, with the share of the true class.

    Each item: {"true", "predicted", "count", "share"}; both directions of a pair appear separately.
    """
    off = confusion.clone()
    off.fill_diagonal_(0)
    totals = confusion.sum(dim=1).clamp(min=1)
    pairs = []
    values, flat = off.flatten().sort(descending=True, stable=True)  # ties in class order: reproducible
    for count, idx in zip(values.tolist(), flat.tolist(), strict=True):
        if count == 0 or len(pairs) >= top:
            break
        t, p = divmod(idx, len(classes))
        pairs.append({"true": classes[t], "predicted": classes[p], "count": int(count),
                      "share": round(count / int(totals[t]), 4)})
    return pairs


def expected_calibration_error(probs: torch.Tensor, labels: torch.Tensor, bins: int = ECE_BINS) -> float:
    """ECE: the confidence-weighted gap between confidence and accuracy over ``bins`` equal-width bins."""
    if len(labels) == 0:
        return 0.0
    conf, pred = probs.max(dim=1)
    correct = (pred == labels).float()
    edges = torch.linspace(0, 1, bins + 1)
    ece = torch.zeros(())
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        inside = (conf > lo) & (conf <= hi)
        if inside.any():
            ece += inside.float().mean() * (conf[inside].mean() - correct[inside].mean()).abs()
    return float(ece)


def reliability_bins(probs: torch.Tensor, labels: torch.Tensor, bins: int = ECE_BINS) -> list[dict]:
    """Per confidence bin: {"lo", "hi", "count", "confidence", "accuracy"} (for a reliability diagram)."""
    conf, pred = probs.max(dim=1)
    correct = (pred == labels).float()
    edges = torch.linspace(0, 1, bins + 1).tolist()
    rows = []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        inside = (conf > lo) & (conf <= hi)
        n = int(inside.sum())
        rows.append({"lo": lo, "hi": hi, "count": n,
                     "confidence": float(conf[inside].mean()) if n else None,
                     "accuracy": float(correct[inside].mean()) if n else None})
    return rows


def group_matrix(classes: list[str], groups: dict[str, list[str]]) -> torch.Tensor:
    """(C, G) 0/1 matrix: class c belongs to group g. Multiply probabilities by it to get group probabilities."""
    names = list(groups)
    m = torch.zeros(len(classes), len(names))
    for g, members in enumerate(groups.values()):
        for c in members:
            if c in classes:
                m[classes.index(c), g] = 1.0
    return m


def group_accuracy(probs: torch.Tensor, labels: torch.Tensor, classes: list[str], groups: dict[str, list[str]]) -> float | None:
    """Share of images whose most probable group (sum of its classes' probabilities) is their true group."""
    if not groups or len(labels) == 0:
        return None
    m = group_matrix(classes, groups)
    true_group = m[labels].argmax(dim=1)
    return float(((probs @ m).argmax(dim=1) == true_group).float().mean())


def fit_temperature(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """The temperature T > 0 that minimises the validation NLL of softmax(logits / T) (Guo et al. 2017)."""
    if len(labels) == 0:
        return 1.0
    logits, labels = logits.detach().clone().float(), labels.clone()
    log_t = torch.zeros(1, requires_grad=True)
    opt = torch.optim.LBFGS([log_t], lr=0.1, max_iter=100, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(logits / log_t.exp(), labels)
        loss.backward()
        return loss

    opt.step(closure)
    return float(log_t.detach().exp().clamp(0.05, 20.0))


def summarize(logits: torch.Tensor, labels: torch.Tensor, classes: list[str], groups: dict[str, list[str]] | None = None,
              temperature: float = 1.0, pairs: int = 10) -> dict:
    """All headline metrics for logits (N, C) and labels (N,). Probabilities use ``temperature``."""
    probs = torch.softmax(logits / temperature, dim=1)
    preds = probs.argmax(dim=1)
    conf = confusion_matrix(labels, preds, len(classes))
    acc = per_class_accuracy(conf)
    return {
        "n": int(len(labels)),
        "top1": topk_accuracy(probs, labels, 1),
        "top5": topk_accuracy(probs, labels, 5),
        "group_top1": group_accuracy(probs, labels, classes, groups or {}),
        "ece": expected_calibration_error(probs, labels),
        "nll": float(torch.nn.functional.cross_entropy(logits / temperature, labels)) if len(labels) else 0.0,
        "temperature": float(temperature),
        "per_class": {c: round(float(a), 4) for c, a in zip(classes, acc.tolist(), strict=True)},
        "confusion": conf.tolist(),
        "most_confused": confusion_pairs(conf, classes, pairs),
    }


def validation_figures(logits: torch.Tensor, labels: torch.Tensor, classes: list[str],
                       groups: dict[str, list[str]] | None = None) -> dict:
    """The figures a checkpoint's metrics.json records for its validation logits: val, val_calibrated (with the
    fitted temperature), per_class, most_confused, confusion."""
    temperature = fit_temperature(logits, labels)
    plain = summarize(logits, labels, classes, groups)
    calibrated = summarize(logits, labels, classes, groups, temperature=temperature)
    return {
        "val": {k: plain[k] for k in ("n", "top1", "top5", "group_top1", "ece", "nll")},
        "val_calibrated": {k: calibrated[k] for k in ("ece", "nll", "temperature")},
        "per_class": plain["per_class"], "most_confused": plain["most_confused"], "confusion": plain["confusion"],
    }


def measure_validation(ckpt: Checkpoint, tta: int, data: str | Path | None = None) -> dict:
    """``validation_figures`` of a checkpoint (saved or not) on its own validation split, plus the tta used:
    the same forward pass (and bfloat16 autocast where the CPU has it) as ``python -m core.evaluate``, so the
    figures it records are the ones that command prints. data: the dataset if it moved since training (default:
    config.json's source)."""
    val = load_eval_set(ckpt, data or ckpt.config.get("dataset", {}).get("source"), "val")
    return {**validation_figures(evaluate_set(ckpt, val, tta).logits, val.labels, ckpt.classes, ckpt.groups), "tta": int(tta)}


def summarize_predictions(probs: torch.Tensor, preds: torch.Tensor, labels: torch.Tensor, classes: list[str],
                          groups: dict[str, list[str]] | None = None, pairs: int = 10) -> dict:
    """Headline metrics from probabilities (N, C) and the predictions already taken from them (N,).

    Unlike ``summarize`` the confusion matrix comes from ``preds`` as given, so it agrees exactly with
    ``cell_indices`` on cached (float16) probabilities where a near-tie could round the other way.
    """
    conf = confusion_matrix(labels, preds, len(classes))
    acc = per_class_accuracy(conf)
    return {
        "n": int(len(labels)),
        "top1": float((preds == labels).float().mean()) if len(labels) else 0.0,
        "top5": topk_accuracy(probs, labels, 5),
        "group_top1": group_accuracy(probs, labels, classes, groups or {}),
        "ece": expected_calibration_error(probs, labels),
        "per_class": {c: round(float(a), 4) for c, a in zip(classes, acc.tolist(), strict=True)},
        "per_class_count": {c: int(n) for c, n in zip(classes, conf.sum(dim=1).tolist(), strict=True)},
        "confusion": conf.tolist(),
        "most_confused": confusion_pairs(conf, classes, pairs),
    }


def group_confusion(probs: torch.Tensor, labels: torch.Tensor, classes: list[str],
                    groups: dict[str, list[str]]) -> torch.Tensor:
    """(G, G) int64 counts over groups (order of ``groups``): row = true group, column = the most probable
    group, a group's probability being the sum of its classes'."""
    m = group_matrix(classes, groups)
    true_group = m[labels].argmax(dim=1)
    pred_group = (probs @ m).argmax(dim=1)
    return confusion_matrix(true_group, pred_group, len(groups))


def confidence_histogram(probs: torch.Tensor, labels: torch.Tensor, bins: int = 20) -> dict:
    """How sure the model is when it is right and when it is wrong.

    Returns {"edges": (bins + 1) floats on [0, 1], "right": bins counts, "wrong": bins counts} of the top
    probability of each image, split by whether the top class is the true one.
    """
    conf, pred = probs.float().max(dim=1)
    correct = pred == labels
    edges = torch.linspace(0, 1, bins + 1)
    # clamp so a confidence of exactly 1.0 lands in the last bin
    index = (conf * bins).long().clamp(0, bins - 1)
    right = torch.bincount(index[correct], minlength=bins)
    wrong = torch.bincount(index[~correct], minlength=bins)
    return {"edges": edges.tolist(), "right": right.tolist(), "wrong": wrong.tolist()}


# ---------------------------------------------------------------------------------------------------------------
# Evaluations: one checkpoint on one evaluation set, cached on disk

CACHE_VERSION = 1  # bump when the cache layout or what goes into it changes
SAMPLE_NAME = "eval_sample.zip"  # the held-out sample a shipped checkpoint carries
CACHE_NAME = "eval_cache.safetensors"  # its evaluation, beside it in the checkpoint folder


@dataclass
class Evaluation:
    """A checkpoint's predictions on one evaluation set: everything the error-analysis tab shows.

    logits: (N, C) float32, test-time augmentation applied, no temperature.
    probs: (N, C) float32, softmax(logits) (uncalibrated).  labels, preds: (N,) int64 class indices.
    classes / groups / temperature: the checkpoint's.  key: what the cache is keyed on (weights sha256,
    dataset fingerprint, split, tta).  source: the evaluation set as the user named it.
    """

    logits: torch.Tensor
    probs: torch.Tensor
    labels: torch.Tensor
    preds: torch.Tensor
    classes: list[str]
    groups: dict[str, list[str]]
    temperature: float
    key: dict
    source: str
    split: str
    tta: int
    dataset_name: str
    seconds: float = 0.0  # inference time when it was computed
    cache_path: Path | None = None
    from_cache: bool = False

    @property
    def n(self) -> int:
        return int(len(self.labels))

    @property
    def correct(self) -> torch.Tensor:
        """(N,) bool: the top class is the true one."""
        return self.preds == self.labels

    @property
    def misclassified(self) -> torch.Tensor:
        """(K,) int64 indices of the wrongly classified images, ascending."""
        return torch.nonzero(~self.correct).flatten()

    def calibrated_probs(self) -> torch.Tensor:
        """(N, C) float32 softmax(logits / T) with the checkpoint's calibration temperature."""
        return torch.softmax(self.logits / self.temperature, dim=1)


def source_fingerprint(source: str | Path) -> str:
    """A cheap fingerprint of a dataset source that changes when its content does, without decoding it:
    an archive's sha256, a folder's file names, sizes and times, a CIFAR name's files on disk."""
    resolved = resolve_source(source)
    if isinstance(resolved, str):
        folder = cifar_root()
        stamps = sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*") if p.is_file()) \
            if folder.is_dir() else []
        return hashlib.sha1(json.dumps([resolved, stamps]).encode()).hexdigest()[:16]
    path = Path(resolved)
    if path.is_file():
        return file_sha256(path)[:16]
    return folder_fingerprint(path)


def default_tta(ckpt: Checkpoint) -> int:
    """The test-time augmentation the checkpoint's validation figures were measured with."""
    return int(ckpt.metrics.get("tta", ckpt.config.get("recipe", {}).get("tta", 0)) or 0)


def default_split(source: str | Path) -> str:
    """``val`` when the source has a val/ folder, else ``test`` when it has one, else the carved ``val``."""
    splits = dataset_splits(source)
    if "val" in splits:
        return "val"
    return "test" if "test" in splits else "val"


def bundled_sample(ckpt: Checkpoint) -> Path | None:
    """The checkpoint's own evaluation sample (``eval_sample.zip`` in its folder), if it has one."""
    path = ckpt.path / SAMPLE_NAME if ckpt.path else None
    return path if path and path.is_file() else None


def _dataset_options(ckpt: Checkpoint) -> dict:
    ds = ckpt.config.get("dataset", {})
    return {"val_fraction": float(ds.get("val_fraction") or 0.1), "seed": int(ds.get("seed") or 0),
            "merge": ds.get("merge") or ""}


def evaluation_key(ckpt: Checkpoint, source: str | Path, split: str, tta: int) -> dict:
    """What an evaluation depends on: the weights, the dataset (content, split, merges, and how val is carved
    when it is carved) and the test-time augmentation. A cache is reused only when its key is equal; two
    evaluations with the same ``dataset`` entry saw the same images with the same labels."""
    opts = _dataset_options(ckpt)
    dataset = {"source": source_fingerprint(source), "split": split, "merge": opts["merge"]}
    if split != "test" and "val" not in dataset_splits(source):  # val / train carved from train/
        dataset.update(val_fraction=opts["val_fraction"], seed=opts["seed"])
    return {"version": CACHE_VERSION, "model_sha256": weights_sha256(ckpt.path),
            "dataset": hashlib.sha1(json.dumps(dataset, sort_keys=True).encode()).hexdigest()[:16],
            "split": split, "tta": int(tta)}


def cache_path_for(ckpt: Checkpoint, source: str | Path, key: dict) -> Path:
    """Where an evaluation is cached: beside the checkpoint for its bundled sample (so a fresh clone opens
    instantly), else in ``core.data.cache_dir()/eval``."""
    sample = bundled_sample(ckpt)
    if sample and Path(source).resolve() == sample.resolve():
        return ckpt.path / CACHE_NAME
    return _shared_cache_path(key)


def _shared_cache_path(key: dict) -> Path:
    name = hashlib.sha1(json.dumps(key, sort_keys=True).encode()).hexdigest()[:20]
    return cache_dir() / "eval" / f"{name}.safetensors"


def _describe_source(ckpt: Checkpoint, source: str | Path) -> str:
    sample = bundled_sample(ckpt)
    if sample and Path(source).resolve() == sample.resolve():
        return SAMPLE_NAME  # relative, so the cache stays valid in a clone at another path
    return str(source)


def save_evaluation(ev: Evaluation, path: str | Path) -> Path:
    """Write ``ev`` as safetensors (the logits as float16 to stay small; the probabilities are their softmax, made
    again on loading), atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {"logits": ev.logits.to(torch.float16).contiguous(),
               "labels": ev.labels.contiguous(), "preds": ev.preds.contiguous(),
               "misclassified": ev.misclassified.contiguous()}
    meta = {"key": ev.key, "classes": ev.classes, "groups": ev.groups, "temperature": ev.temperature,
            "source": ev.source, "split": ev.split, "tta": ev.tta, "dataset_name": ev.dataset_name,
            "seconds": ev.seconds}
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    save_file(tensors, str(tmp), metadata={k: json.dumps(v) for k, v in meta.items()})
    os.replace(tmp, path)
    return path


def load_evaluation(path: str | Path, key: dict | None = None) -> Evaluation | None:
    """The evaluation cached at ``path``, or None when there is none, it is damaged, or its key differs
    from ``key`` (the weights or the dataset changed). Remembered in memory per file version."""
    path = Path(path)
    try:
        st = path.stat()
        ev = _load_evaluation_memo(str(path), st.st_size, st.st_mtime_ns)
    except (OSError, SafetensorError, ValueError, KeyError, json.JSONDecodeError):
        return None
    if key is not None and ev.key != key:
        return None
    return ev


@functools.lru_cache(maxsize=8)
def _load_evaluation_memo(path: str, size: int, mtime_ns: int) -> Evaluation:
    with safe_open(path, framework="pt") as f:
        meta = {k: json.loads(v) for k, v in (f.metadata() or {}).items()}
        t = {name: f.get_tensor(name) for name in f.keys()}  # noqa: SIM118 (safe_open has no __iter__)
    logits = t["logits"].float()
    probs = t["probs"].float() if "probs" in t else torch.softmax(logits, dim=1)  # caches written before kept both
    return Evaluation(logits, probs, t["labels"], t["preds"], meta["classes"],
                      meta["groups"], float(meta["temperature"]), meta["key"], meta["source"], meta["split"],
                      int(meta["tta"]), meta["dataset_name"], float(meta.get("seconds", 0.0)), Path(path), True)


def load_eval_set(ckpt: Checkpoint, source: str | Path, split: str) -> ImageSet:
    """The evaluation images as the checkpoint sees them: its input size, its class order (matched by name),
    its merges; for a carved ``val``/``train`` the split of its config.json (val_fraction, seed, merge).

    Raises DataError for a missing dataset or a class folder the model does not know.
    """
    opts = _dataset_options(ckpt)
    merge = parse_merge(opts["merge"]) if opts["merge"] else None
    if merge:  # merge only what this dataset has: an evaluation set may already use the merged names
        stored = split if split == "test" or (split == "val" and "val" in dataset_splits(source)) else "train"
        names = set(load_images(source, stored, ckpt.input_size).classes)
        merge = {new: [m for m in members if m in names] for new, members in merge.items()}
        merge = {new: members for new, members in merge.items() if members} or None
    ds = load_split(source, split, opts["val_fraction"], opts["seed"], ckpt.input_size, merge)
    return align_classes(ds, ckpt.classes)


def evaluate_set(ckpt: Checkpoint, ds: ImageSet, tta: int = 0, batch_size: int = 500, source: str = "",
                 split: str = "val", key: dict | None = None) -> Evaluation:
    """Run the checkpoint on every image of ``ds`` (already aligned to its classes) in batches."""
    device = next(ckpt.model.parameters()).device
    start = time.perf_counter()
    logits = predict_logits(ckpt.model, ds.images, ckpt.mean, ckpt.std, batch_size=batch_size, tta=tta,
                            autocast=bf16_helps(ckpt.model, device))
    seconds = time.perf_counter() - start
    probs = torch.softmax(logits, dim=1)
    return Evaluation(logits, probs, ds.labels.clone(), probs.argmax(dim=1), list(ckpt.classes), dict(ckpt.groups),
                      ckpt.temperature, key or {}, source, split, int(tta), ds.name, seconds)


def cached_evaluation(ckpt: Checkpoint, source: str | Path | None = None, split: str | None = None,
                      tta: int | None = None, batch_size: int = 500, recompute: bool = False) -> Evaluation:
    """The checkpoint's evaluation on ``source`` (default: its bundled sample), from the disk cache when the
    weights, the dataset, the split and the tta are unchanged, else computed once and cached.

    split: default ``default_split(source)``; tta: default the one its validation figures used.
    Raises DataError (no bundled sample, unknown dataset, unknown class folder) or CheckpointError.
    """
    if source is None:
        source = bundled_sample(ckpt)
        if source is None:
            raise DataError(f"{ckpt.name} has no bundled evaluation sample ({SAMPLE_NAME}); type a dataset folder, "
                            "an archive path, or cifar10 / cifar100")
    split = split or default_split(source)
    tta = default_tta(ckpt) if tta is None else int(tta)
    key = evaluation_key(ckpt, source, split, tta)
    path = cache_path_for(ckpt, source, key)
    if not recompute:
        ev = load_evaluation(path, key)
        if ev is not None:
            return ev
    ds = load_eval_set(ckpt, source, split)
    if isinstance(resolve_source(source), str):  # CIFAR by name: its files may only now have been downloaded
        key = evaluation_key(ckpt, source, split, tta)
    ev = evaluate_set(ckpt, ds, tta, batch_size, _describe_source(ckpt, source), split, key)
    try:
        ev.cache_path = save_evaluation(ev, path)
    except OSError:  # a read-only checkpoint folder (a hosted app): keep the cache with the others instead
        ev.cache_path = save_evaluation(ev, _shared_cache_path(key))
    return ev


def build_eval_cache(checkpoint_dir: str | Path, batch_size: int = 500) -> Path:
    """Evaluate a shipped checkpoint on its bundled ``eval_sample.zip`` and write ``eval_cache.safetensors``
    beside it (what the shipping step calls). Returns the cache path."""
    ckpt = load_checkpoint(checkpoint_dir)
    if bundled_sample(ckpt) is None:
        raise DataError(f"{Path(checkpoint_dir) / SAMPLE_NAME} is missing; write it first with core.data.write_sample_zip")
    ev = cached_evaluation(ckpt, recompute=True, batch_size=batch_size)
    return ev.cache_path


# ---------------------------------------------------------------------------------------------------------------
# Questions the error-analysis tab asks of an evaluation


def class_index(classes: list[str], which: int | str) -> int:
    """A class given by index or name -> its index. Raises DataError for an unknown one."""
    if isinstance(which, str) and not which.lstrip("-").isdigit():
        if which not in classes:
            raise DataError(f"{which!r} is not a class of this model")
        return classes.index(which)
    index = int(which)
    if not 0 <= index < len(classes):
        raise DataError(f"class index {index} is out of range (0..{len(classes) - 1})")
    return index


def cell_indices(ev: Evaluation, true: int | str, pred: int | str) -> torch.Tensor:
    """(K,) int64 indices (ascending) of the images of confusion cell (true, predicted): exactly the images
    counted in that cell. Classes by index or name; the diagonal gives the correctly classified ones."""
    t, p = class_index(ev.classes, true), class_index(ev.classes, pred)
    return torch.nonzero((ev.labels == t) & (ev.preds == p)).flatten()


def evaluation_report(ev: Evaluation, pairs: int = 10, bins: int = ECE_BINS) -> dict:
    """Everything the tab shows about an evaluation, as plain Python values.

    Keys of ``summarize_predictions`` plus: ece_calibrated, temperature, reliability / reliability_calibrated
    (per-bin rows), confidence (histogram right vs wrong), group_confusion and group_names (when grouped),
    errors (number misclassified), source, split, tta, dataset_name.
    """
    report = summarize_predictions(ev.probs, ev.preds, ev.labels, ev.classes, ev.groups, pairs)
    calibrated = ev.calibrated_probs()
    report.update({
        "ece_calibrated": expected_calibration_error(calibrated, ev.labels, bins),
        "temperature": ev.temperature,
        "reliability": reliability_bins(ev.probs, ev.labels, bins),
        "reliability_calibrated": reliability_bins(calibrated, ev.labels, bins),
        "confidence": confidence_histogram(ev.probs, ev.labels),
        "errors": int((~ev.correct).sum()),
        "source": ev.source, "split": ev.split, "tta": ev.tta, "dataset_name": ev.dataset_name,
    })
    if ev.groups:
        report["group_names"] = list(ev.groups)
        report["group_confusion"] = group_confusion(ev.probs, ev.labels, ev.classes, ev.groups).tolist()
    return report


def pick_random(ev: Evaluation, only_errors: bool = True, generator: torch.Generator | None = None) -> int | None:
    """A random image index: among the misclassified ones (or all). None when there is nothing to pick."""
    pool = ev.misclassified if only_errors else torch.arange(ev.n)
    if len(pool) == 0:
        return None
    return int(pool[torch.randint(len(pool), (1,), generator=generator)])


def compare_predictions(a: Evaluation, b: Evaluation) -> dict:
    """Two checkpoints on the same evaluation set: accuracy, per-class difference, who is right where.

    Classes are matched by name (their order may differ). Returns {"top1_a", "top1_b", "per_class":
    [{"class", "a", "b", "diff", "n"}] sorted by diff (b - a) ascending, "both_right", "both_wrong",
    "only_a" / "only_b" ((K,) int64 indices where only that model is right)}.
    Raises DataError when the two were not evaluated on the same images.
    """
    if a.key.get("dataset") != b.key.get("dataset") or a.n != b.n:
        raise DataError("the two models were evaluated on different images; choose the same evaluation set for both")
    names_b = [b.classes[i] for i in b.labels.tolist()]
    if [a.classes[i] for i in a.labels.tolist()] != names_b:
        raise DataError("the two evaluations disagree on the true classes; they cannot be compared image by image")
    right_a, right_b = a.correct, b.correct
    rows = []
    for c, name in enumerate(a.classes):
        mask = a.labels == c
        if name not in b.classes or not mask.any():
            continue
        acc_a, acc_b = float(right_a[mask].float().mean()), float(right_b[mask].float().mean())
        rows.append({"class": name, "a": round(acc_a, 4), "b": round(acc_b, 4), "diff": round(acc_b - acc_a, 4),
                     "n": int(mask.sum())})
    rows.sort(key=lambda r: (r["diff"], r["class"]))
    return {
        "n": a.n,
        "top1_a": float(right_a.float().mean()), "top1_b": float(right_b.float().mean()),
        "per_class": rows,
        "both_right": int((right_a & right_b).sum()), "both_wrong": int((~right_a & ~right_b).sum()),
        "only_a": torch.nonzero(right_a & ~right_b).flatten(), "only_b": torch.nonzero(~right_a & right_b).flatten(),
    }


# ---------------------------------------------------------------------------------------------------------------
# Command line


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m core.evaluate",
                                description="Evaluate a checkpoint on a labelled image set and print its metrics.")
    p.add_argument("--checkpoint", required=True, help="checkpoint folder, e.g. checkpoints/cifar10-resnet")
    p.add_argument("--data", required=True,
                   help="image folder, .zip/.tar.gz archive (e.g. a checkpoint's eval_sample.zip), or cifar10 / cifar100")
    p.add_argument("--split", choices=["test", "val", "train"], default=None,
                   help="default: the source's val/ folder, else test/, else the validation split carved as in "
                        "the checkpoint's config.json (val_fraction, seed, merge)")
    p.add_argument("--tta", type=int, choices=[0, 1, 2], default=None,
                   help="test-time augmentation: 0 none, 1 mirror, 2 mirror + shifts (default: as in the model card)")
    p.add_argument("--batch-size", type=int, default=500)
    p.add_argument("--cache", action="store_true",
                   help="also write the evaluation cache the Error analysis tab opens (beside the checkpoint for "
                        "its bundled eval_sample.zip, else in the cache folder)")
    p.add_argument("--json", action="store_true", help="end with one JSON object on the last line of stdout")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.batch_size < 1:
        print("error: --batch-size must be at least 1", file=sys.stderr)
        return 2
    try:
        start = time.perf_counter()
        ckpt = load_checkpoint(args.checkpoint)
        split = args.split or default_split(args.data)
        tta = default_tta(ckpt) if args.tta is None else args.tta
        key = evaluation_key(ckpt, args.data, split, tta)
        ds = load_eval_set(ckpt, args.data, split)
        ev = evaluate_set(ckpt, ds, tta, args.batch_size, _describe_source(ckpt, args.data), split, key)
        result = summarize(ev.logits, ev.labels, ev.classes, ev.groups, temperature=1.0)
        calibrated = summarize(ev.logits, ev.labels, ev.classes, ev.groups, temperature=ev.temperature)
        result.update({"ece_calibrated": calibrated["ece"], "nll_calibrated": calibrated["nll"],
                       "checkpoint": str(args.checkpoint), "data": str(args.data), "dataset": ds.name,
                       "split": split, "tta": tta, "skipped": ds.skipped})
        if args.cache:
            path = cache_path_for(ckpt, args.data, key)
            try:
                result["cache"] = str(save_evaluation(ev, path))
            except OSError:
                result["cache"] = str(save_evaluation(ev, _shared_cache_path(key)))
        result["seconds"] = round(time.perf_counter() - start, 3)
        result["inference_seconds"] = round(ev.seconds, 3)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if not args.json:
        print(f"{ckpt.name} on {ds.name} ({split}, {result['n']} images, tta {tta}): top-1 {result['top1']:.2%}, "
              f"top-5 {result['top5']:.2%}, ECE {result['ece']:.4f} (calibrated {result['ece_calibrated']:.4f})")
        for pair in result["most_confused"][:5]:
            print(f"  {pair['true']} -> {pair['predicted']}: {pair['count']} ({pair['share']:.1%})")
    else:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
