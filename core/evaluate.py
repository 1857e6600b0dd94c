"""How good is a checkpoint, and where does it go wrong.

    python -m core.evaluate --checkpoint checkpoints/cifar10-resnet --data cifar10-train-jpg --split val --json

Batch inference over uint8 tensors, then metrics: top-1/top-5, per-class and group accuracy, the
confusion matrix, the most-confused pairs and the expected calibration error (ECE). The last line of
stdout with ``--json`` is one JSON object.
"""

from __future__ import annotations

import torch

from core.predict import to_model_input

ECE_BINS = 15


# ---------------------------------------------------------------------------------------------------------------
# Inference


@torch.no_grad()
def predict_logits(
    model: torch.nn.Module, images: torch.Tensor, mean: list[float], std: list[float], batch_size: int = 500,
    tta: int = 0, autocast: bool = False,
) -> torch.Tensor:
    """Logits (N, classes) float32 for (N, 3, H, W) uint8 images, in batches.

    tta: 0 none; 1 average with the mirror image; 2 also with copies shifted by one pixel (as airbench).
    """
    model.eval()
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
    values, flat = off.flatten().sort(descending=True)
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
    return float(log_t.exp().clamp(0.05, 20.0))


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
