import json
import shutil
import zipfile
from dataclasses import replace

from core.bundle import bundle, promote
from core.checkpoint import load_checkpoint
from core.data import load_train_val
from core.train import TrainConfig, train


def test_bundle_ships_a_sample_of_validation_images_only_with_its_caches(tiny_checkpoint, shapes_dir, tmp_path):
    ckpt_dir = shutil.copytree(tiny_checkpoint, tmp_path / "shapes-resnet")
    written = bundle(ckpt_dir, per_class=3)
    assert {p.name for p in written} >= {"eval_sample.zip", "eval_cache.safetensors", "channel_top_images.json"}
    names = zipfile.ZipFile(ckpt_dir / "eval_sample.zip").namelist()
    assert len(names) == 4 * 3 and all(n.startswith("val/") for n in names)
    train_set, val_set = load_train_val(shapes_dir, 0.25, 0)
    sampled = {n.removeprefix("val/") for n in names}
    assert sampled <= set(val_set.files) and not sampled & set(train_set.files)  # never trained on
    assert "Bundled evaluation sample" in (ckpt_dir / "README.md").read_text()


def _fine_tune_and_promote(tiny_checkpoint, shapes_dir, tmp_path):
    """A copy of the tiny checkpoint, replaced by one epoch fine-tuned from it (runs/cycle2)."""
    ckpt_dir = shutil.copytree(tiny_checkpoint, tmp_path / "checkpoints" / "shapes-resnet")
    cfg = replace(TrainConfig(), data=str(shapes_dir), output_dir=str(tmp_path / "runs" / "cycle2"), init_from=str(ckpt_dir),
                  epochs=1, batch_size=16, optimizer="adam", lr=1e-3, val_fraction=0.25, tta=0)
    train(cfg)
    promote(tmp_path / "runs" / "cycle2", ckpt_dir)
    return ckpt_dir


def test_promote_keeps_the_earlier_stage_in_the_lineage_and_the_card(tiny_checkpoint, shapes_dir, tmp_path):
    ckpt_dir = _fine_tune_and_promote(tiny_checkpoint, shapes_dir, tmp_path)
    config = json.loads((ckpt_dir / "config.json").read_text())
    assert len(config["lineage"]) == 1
    assert "--output-dir checkpoints/shapes-resnet" in config["lineage"][0]["command"]
    assert config["recipe"]["init_from"] == str(ckpt_dir)
    assert load_checkpoint(ckpt_dir).metrics["epochs_run"] == 1
    bundle(ckpt_dir, per_class=2)
    card = (ckpt_dir / "README.md").read_text()
    assert "Stage 1: 8 epochs" in card and card.count("python -m core.train") >= 2


def test_promoting_the_same_run_again_adds_no_stage(tiny_checkpoint, shapes_dir, tmp_path):
    # A float copy of the fine-tuned run, kept before --int8, promoted again: the checkpoint already holds that
    # training, so the lineage keeps one earlier stage (and the card one "Stage" line and no repeated command).
    ckpt_dir = _fine_tune_and_promote(tiny_checkpoint, shapes_dir, tmp_path)
    float_copy = shutil.copytree(ckpt_dir, tmp_path / "runs" / "cycle2-float")
    promote(float_copy, ckpt_dir)
    config = json.loads((ckpt_dir / "config.json").read_text())
    assert len(config["lineage"]) == 1 and "--epochs 8" in config["lineage"][0]["command"]
    bundle(ckpt_dir, per_class=2)
    card = (ckpt_dir / "README.md").read_text()
    assert "Stage 2" not in card and card.count("--init-from") == 1


def test_promoting_a_run_trained_from_scratch_carries_no_lineage(tiny_checkpoint, shapes_dir, tmp_path):
    ckpt_dir = shutil.copytree(tiny_checkpoint, tmp_path / "checkpoints" / "shapes-resnet")
    config = json.loads((ckpt_dir / "config.json").read_text())
    config["lineage"] = [{"command": "python -m core.train --an-older-stage", "epochs": 3, "train_seconds": 1.0,
                          "val_top1": 0.5}]
    (ckpt_dir / "config.json").write_text(json.dumps(config))
    cfg = replace(TrainConfig(), data=str(shapes_dir), output_dir=str(tmp_path / "runs" / "fresh"), epochs=1,
                  batch_size=16, optimizer="adam", lr=1e-3, val_fraction=0.25, tta=0)
    train(cfg)
    promote(tmp_path / "runs" / "fresh", ckpt_dir)
    promoted = json.loads((ckpt_dir / "config.json").read_text())
    assert "lineage" not in promoted and promoted["recipe"]["init_from"] is None
    bundle(ckpt_dir, per_class=2)
    card = (ckpt_dir / "README.md").read_text()
    assert "--an-older-stage" not in card and "Stage 1" not in card


def test_promote_to_a_new_name_needs_no_existing_checkpoint(tiny_checkpoint, tmp_path):
    run = shutil.copytree(tiny_checkpoint, tmp_path / "runs" / "fresh")
    promote(run, tmp_path / "checkpoints" / "brand-new")
    assert load_checkpoint(tmp_path / "checkpoints" / "brand-new").classes == load_checkpoint(run).classes
