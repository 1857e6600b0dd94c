"""Fine-tuning from pretrained networks: new heads that start from known classes, frozen stages, a smaller rate for
the pretrained layers, head-only training on features computed once, and torchvision's weights by name."""

from __future__ import annotations

import urllib.error
from pathlib import Path

import pytest
import torch
from torch import nn

import core.data
import core.train
from core.checkpoint import build_config, load_checkpoint, save_checkpoint
from core.errors import CheckpointError, ConfigError
from core.models import create_model
from core.pretrained import load_pretrained
from core.train import TrainConfig, make_optimizer, new_head, train


def test_a_new_head_starts_from_the_rows_of_classes_the_old_one_knows():
    old = nn.Linear(4, 3)
    head = new_head(old, ["Golden Retriever", "tabby", "teapot"], ["teapot", "golden_retriever", "keys"])
    assert torch.equal(head.weight[0], old.weight[2]) and torch.equal(head.bias[1], old.bias[0])
    assert not torch.equal(head.weight[2], old.weight[1])  # "keys" is new: a fresh row


@pytest.fixture(scope="module")
def tiny_mobilenet(tmp_path_factory, shapes_dir) -> Path:
    """An untrained MobileNetV2 checkpoint whose classes include two of the shapes, like ImageNet's for everyday50."""
    torch.manual_seed(0)
    model = create_model("mobilenetv2", num_classes=3, input_size=32)
    config = build_config("mobilenetv2", {}, ["circle", "square", "lamp"], 32, [0.5] * 3, [0.5] * 3)
    return save_checkpoint(tmp_path_factory.mktemp("pre") / "tiny-mobilenet", model, config)


def test_freeze_keeps_the_stages_up_to_it_fixed_and_the_backbone_learns_slower(tiny_mobilenet, shapes_dir, tmp_path):
    cfg = TrainConfig(data=str(shapes_dir), output_dir=str(tmp_path / "ft"), init_from=str(tiny_mobilenet),
                      freeze="stage3", backbone_lr_scale=0.1, epochs=1, batch_size=16, lr=0.01, tta=0, val_fraction=0.25)
    before = load_checkpoint(tiny_mobilenet).model.state_dict()
    train(cfg)
    after = load_checkpoint(tmp_path / "ft")
    assert after.classes == ["circle", "cross", "square", "triangle"]
    state = after.model.state_dict()
    assert all(torch.equal(state[k], before[k]) for k in before if k.split(".")[0] in ("stem", "stage1", "stage2", "stage3"))
    assert not torch.equal(state["stage4.0.body.0.0.weight"], before["stage4.0.body.0.0.weight"])
    model, *_ = core.train._build_model(cfg, core.data.load_train_val(str(shapes_dir), 0.25, 0, 32)[0])
    lrs = sorted(g["lr"] for g in make_optimizer(model, cfg).param_groups)
    assert lrs == pytest.approx([0.001, 0.01])


def test_micro_batches_make_the_same_step_as_the_whole_batch(tiny_mobilenet, shapes_dir, tmp_path):
    """MobileNetV2 has no batch norm left (it is folded), so a batch run in chunks has the same gradient."""
    def weights(micro: int) -> dict:
        cfg = TrainConfig(data=str(shapes_dir), output_dir=str(tmp_path / f"mb{micro}"), init_from=str(tiny_mobilenet),
                          epochs=1, batch_size=16, micro_batch=micro, lr=0.05, tta=0, val_fraction=0.25,
                          label_smoothing=0.1, augment="flip")
        train(cfg)
        return load_checkpoint(tmp_path / f"mb{micro}").model.state_dict()

    whole, chunked, before = weights(0), weights(5), load_checkpoint(tiny_mobilenet).model.state_dict()
    assert not torch.allclose(whole["stage7.0.body.0.0.weight"], before["stage7.0.body.0.0.weight"])  # it did learn
    assert all(torch.allclose(whole[k], chunked[k], atol=1e-5) for k in whole)


def test_micro_batches_are_refused_where_batch_norm_would_see_only_a_chunk(shapes_dir, tmp_path):
    cfg = TrainConfig(data=str(shapes_dir), output_dir=str(tmp_path / "bn"), arch="resnet", epochs=1, batch_size=16,
                      micro_batch=4, tta=0, val_fraction=0.25)
    with pytest.raises(ConfigError, match="batch norm"):
        train(cfg)


def test_freeze_names_the_stages_when_given_one_the_network_lacks(tiny_mobilenet, shapes_dir, tmp_path):
    cfg = TrainConfig(data=str(shapes_dir), output_dir=str(tmp_path / "x"), init_from=str(tiny_mobilenet), freeze="stage9",
                      epochs=1, tta=0)
    with pytest.raises(ConfigError, match="stage7"):
        train(cfg)


def test_head_only_training_runs_the_backbone_once_per_image_mirror_and_validation_image(tiny_mobilenet, shapes_dir, tmp_path, monkeypatch):
    calls = []
    real = core.train._frozen_features
    monkeypatch.setattr(core.train, "_frozen_features", lambda *a, **k: calls.append(k) or real(*a, **k))
    cfg = TrainConfig(data=str(shapes_dir), output_dir=str(tmp_path / "head"), init_from=str(tiny_mobilenet),
                      freeze_backbone=True, augment="flip", epochs=3, batch_size=8, optimizer="adam", lr=3e-2, tta=0,
                      val_fraction=0.25, calibrate=False)
    train(cfg)
    assert calls == [{"mirror": True}, {"mirror": False}]  # training images with their mirrors, validation images
    ckpt = load_checkpoint(tmp_path / "head")
    # each epoch's figures, from the validation features, are those of the whole network run on the images
    best = ckpt.metrics["history"][ckpt.metrics["best_epoch"] - 1]
    assert best["val_acc"] == pytest.approx(ckpt.metrics["val"]["top1"], abs=1e-6)
    assert best["val_loss"] == pytest.approx(ckpt.metrics["val"]["nll"], abs=1e-4)
    assert ckpt.temperature == 1.0  # not fitted on the validation images when calibrate is off
    base = load_checkpoint(tiny_mobilenet).model.state_dict()
    state = ckpt.model.state_dict()
    assert all(torch.equal(state[k], base[k]) for k in base if not k.startswith("head."))
    assert not torch.equal(state["head.1.weight"][0], base["head.1.weight"][0])  # circle's row learned on


@pytest.fixture
def torch_cache(tmp_path, monkeypatch):
    """torch's download cache in a temporary folder holding a (random) mobilenet_v3_small weights file, under the name
    torchvision would download it as: loading it needs no network."""
    import torchvision

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    weights = torchvision.models.MobileNet_V3_Small_Weights.DEFAULT
    folder = tmp_path / "torch" / "hub" / "checkpoints"
    folder.mkdir(parents=True)
    torch.manual_seed(0)
    torch.save(torchvision.models.mobilenet_v3_small(weights=None).state_dict(), folder / Path(weights.url).name)
    return folder


def test_torchvision_weights_by_name_fine_tune_into_a_checkpoint(torch_cache, shapes_dir, tmp_path):
    base = load_pretrained("torchvision:mobilenet_v3_small")
    assert len(base.classes) == 1000 and base.input_size == 224 and base.model.named_stages()[-1][0] == "head"
    cfg = TrainConfig(data=str(shapes_dir), output_dir=str(tmp_path / "tv"), init_from="torchvision:mobilenet_v3_small",
                      input_size=32, freeze_backbone=True, augment="flip", epochs=1, batch_size=8, tta=0, val_fraction=0.25)
    train(cfg)
    ckpt = load_checkpoint(tmp_path / "tv")  # rebuilt from config.json alone: arch "torchvision", model in arch_kwargs
    assert ckpt.config["arch"] == "torchvision" and ckpt.config["arch_kwargs"] == {"model": "mobilenet_v3_small"}
    assert ckpt.classes == ["circle", "cross", "square", "triangle"] and ckpt.input_size == 32


def test_torchvision_weights_that_cannot_be_had_give_a_message(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty"))

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    with pytest.raises(CheckpointError, match="internet the first time"):
        load_pretrained("torchvision:resnet18")
    with pytest.raises(ConfigError, match="no torchvision weights"):
        load_pretrained("torchvision:resnet18:NOT_A_WEIGHT")
