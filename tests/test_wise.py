"""Mixing a fine-tuned network with the pretrained one it started from (core.wise, core.bundle --wise)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from core import bundle, wise
from core.checkpoint import build_config, load_checkpoint, save_checkpoint, weights_sha256
from core.errors import ConfigError
from core.evaluate import measure_validation
from core.models import create_model
from core.report import reproduce_commands
from core.train import TrainConfig, train

SHAPES = ["circle", "cross", "square", "triangle"]


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory) -> Path:
    """An untrained MobileNetV2 whose five classes include the four shapes (in another order), like ImageNet's for
    everyday50."""
    torch.manual_seed(0)
    model = create_model("mobilenetv2", num_classes=5, input_size=32)
    config = build_config("mobilenetv2", {}, ["lamp", "triangle", "square", "cross", "circle"], 32, [0.5] * 3, [0.5] * 3)
    return save_checkpoint(tmp_path_factory.mktemp("pre") / "tiny-pretrained", model, config)


@pytest.fixture(scope="module")
def finetuned(pretrained, shapes_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ft") / "shapes-ft"
    train(TrainConfig(data=str(shapes_dir), output_dir=str(out), init_from=str(pretrained), freeze="stage3",
                      epochs=1, batch_size=16, lr=0.05, tta=0, val_fraction=0.25))
    return out


@pytest.fixture
def run_copy(finetuned, tmp_path) -> Path:
    return Path(shutil.copytree(finetuned, tmp_path / "shapes-ft"))


def test_the_mix_lies_between_the_fine_tuned_weights_and_the_pretrained_ones_cut_to_the_same_classes(run_copy, pretrained):
    own = load_checkpoint(run_copy).model.state_dict()
    pre = load_checkpoint(pretrained).model.state_dict()
    key = "stage7.0.body.0.0.weight"
    assert not torch.equal(own[key], pre[key])  # fine-tuning moved it

    bundle.store_mix(run_copy, 0.25)
    mixed = load_checkpoint(run_copy)
    state = mixed.model.state_dict()
    assert torch.allclose(state[key], 0.25 * own[key] + 0.75 * pre[key], atol=1e-6)
    order = [["lamp", "triangle", "square", "cross", "circle"].index(c) for c in SHAPES]  # the shapes' pretrained rows
    assert torch.allclose(state["head.1.weight"], 0.25 * own["head.1.weight"] + 0.75 * pre["head.1.weight"][order], atol=1e-6)
    assert mixed.config["wise"] == {"alpha": 0.25, "init_from": str(pretrained)}
    assert mixed.metrics["val_finetuned"]["n"] == mixed.metrics["val"]["n"] > 0
    card = (run_copy / "README.md").read_text()
    assert "0.25 x the fine-tuned network" in card and "The fine-tuned network alone:" in card
    assert "--wise 0.25" in reproduce_commands("shapes-ft", mixed.config, mixed.metrics)[-1]


def test_measuring_mixes_leaves_the_checkpoint_as_it_was_and_the_ends_are_the_two_networks(run_copy):
    before = weights_sha256(run_copy)
    rows = wise.measure(run_copy, [1.0, 0.0])
    assert weights_sha256(run_copy) == before
    assert [r["alpha"] for r in rows] == [1.0, 0.0]
    assert rows[0]["top1"] == pytest.approx(load_checkpoint(run_copy).metrics["val"]["top1"], abs=1e-4)
    assert rows[1]["top1"] <= 0.5  # the untrained pretrained network is near chance on the shapes


def test_measured_with_the_mirror_a_mix_scores_as_the_evaluate_command_would(run_copy):
    metrics = json.loads((run_copy / "metrics.json").read_text())
    (run_copy / "metrics.json").write_text(json.dumps({**metrics, "tta": 1}))
    start = wise.start_state(load_checkpoint(run_copy))
    ckpt = load_checkpoint(run_copy)
    ckpt.model.load_state_dict(wise.mix(ckpt.model.state_dict(), start, 0.6))
    assert wise.measure(run_copy, [0.6])[0]["top1"] == pytest.approx(measure_validation(ckpt, 1)["val"]["top1"], abs=1e-4)


@pytest.mark.parametrize("alpha", [1.5, -0.1, float("nan"), "half"])
def test_a_share_outside_0_to_1_is_refused_with_a_message(run_copy, alpha):
    with pytest.raises(ConfigError, match="from 0"):
        bundle.store_mix(run_copy, alpha)


def test_the_bundle_command_reports_a_bad_share_without_a_traceback(run_copy, capsys):
    assert bundle.main([str(run_copy), "--wise", "2"]) == 2
    assert "error:" in capsys.readouterr().err


def test_a_model_mixed_once_or_trained_from_scratch_or_of_unknown_classes_is_refused(run_copy, tiny_checkpoint, pretrained,
                                                                                      tmp_path):
    bundle.store_mix(run_copy, 0.5)
    with pytest.raises(ConfigError, match="already a mix"):
        bundle.store_mix(run_copy, 0.5)
    with pytest.raises(ConfigError, match="--init-from"):
        wise.measure(tiny_checkpoint, [0.5])
    partial = tmp_path / "partial-pretrained"
    config = build_config("mobilenetv2", {}, ["lamp", "circle", "square"], 32, [0.5] * 3, [0.5] * 3)
    save_checkpoint(partial, create_model("mobilenetv2", num_classes=3, input_size=32), config)
    other = Path(shutil.copytree(tmp_path / "shapes-ft", tmp_path / "other-ft"))
    cfg = json.loads((other / "config.json").read_text())
    cfg.pop("wise")
    cfg["recipe"]["init_from"] = str(partial)
    (other / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ConfigError, match="does not know cross, triangle"):
        wise.measure(other, [0.5])
