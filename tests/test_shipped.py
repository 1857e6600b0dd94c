"""The trained models in checkpoints/: complete, small enough for a Space, and right on their own samples."""

import json
from pathlib import Path

import pytest
import torch

from core.checkpoint import MAX_FILE_BYTES, load_checkpoint
from core.data import align_classes, load_images, per_class_sample
from core.predict import predict_topk

CHECKPOINTS = Path(__file__).resolve().parent.parent / "checkpoints"
SHIPPED = ["cifar10-resnet", "cifar10-simplecnn", "everyday50-mobilenetv2"]
FILES = ["config.json", "model.safetensors", "metrics.json", "README.md", "curves.png", "eval_sample.zip"]


def test_checkpoints_folder_fits_a_space():
    files = [p for p in CHECKPOINTS.rglob("*") if p.is_file() and not p.name.startswith(".")]
    assert all(p.stat().st_size < MAX_FILE_BYTES for p in files), [p.name for p in files if p.stat().st_size >= MAX_FILE_BYTES]
    assert sum(p.stat().st_size for p in files) < 40_000_000  # the size budget: 40 MB in all


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_checkpoint_is_complete_and_predicts_its_own_sample(name):
    folder = CHECKPOINTS / name
    for f in FILES:
        assert (folder / f).is_file(), f"{name} lacks {f}"
    metrics = json.loads((folder / "metrics.json").read_text())
    assert {"top1", "top5", "ece"} <= set(metrics["val"]) and metrics["history"]
    card = (folder / "README.md").read_text()
    assert "python -m core.train" in card and "curves.png" in card
    ckpt = load_checkpoint(folder)
    sample = align_classes(load_images(folder / "eval_sample.zip", "val"), ckpt.classes)  # as stored (64 px photos
    # for a model that sees them upscaled to 160 px): predict_topk resizes as it does any photo
    # Two bundled images of each of (up to) 20 classes, through the photo path (crop, resize, normalise).
    picks = per_class_sample(sample.labels, 2, seed=1)
    picks = picks[sample.labels[picks] < 20]
    in_top5 = 0
    for i in picks.tolist():
        image = sample.images[i].permute(1, 2, 0).numpy()
        names = [c for c, _ in predict_topk(ckpt, image, k=5).top]
        in_top5 += ckpt.classes[int(sample.labels[i])] in names
    # A model that learned nothing gets about 5 / classes of them; the bar sits a margin below its own top-5.
    expected = max(0.5, metrics["val"]["top5"] - 0.15) * len(picks)
    assert in_top5 >= expected, f"{name}: true class in the top 5 for only {in_top5}/{len(picks)}"
    assert torch.isfinite(torch.tensor(ckpt.temperature)) and ckpt.temperature > 0


def test_the_pretrained_network_is_complete_credited_and_names_a_photo():
    folder = CHECKPOINTS / "imagenet-mobilenetv2"
    for f in ["config.json", "model.safetensors", "metrics.json", "README.md", "eval_sample.zip", "eval_cache.safetensors"]:
        assert (folder / f).is_file(), f"imagenet-mobilenetv2 lacks {f}"
    ckpt = load_checkpoint(folder)
    assert len(ckpt.classes) == 1000 and ckpt.config["source"]["licence"] == "Apache-2.0"
    card = (folder / "README.md").read_text()
    assert "Sandler" in card and ckpt.config["source"]["sha256"] in card and "python -m core.convert" in card
    assert 0 < ckpt.config["unsure_threshold"] < 1
    assert sorted(c for members in ckpt.groups.values() for c in members) == sorted(ckpt.classes)
    pred = predict_topk(ckpt, Path(__file__).resolve().parent.parent / "demo" / "examples" / "chelsea_cat.jpg")
    assert pred.groups[0][0] == "cat" and pred.top[0][1] >= ckpt.config["unsure_threshold"]


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def test_shipped_configs_and_metrics_name_no_absolute_path():
    """A clone elsewhere reads the same recipe: folders and data are named relative to the repository."""
    for path in sorted(CHECKPOINTS.glob("*/*.json")):
        found = [s for s in _strings(json.loads(path.read_text())) if s.startswith(("/", "~")) or s[1:3] == ":\\"]
        assert not found, f"{path.parent.name}/{path.name} names {found}"
