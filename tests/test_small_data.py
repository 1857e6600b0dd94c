"""A few hundred images at the default settings learn: the batch (and with it the default learning rate) shrinks so
an epoch has enough steps. At batch 256, 216 training images are one step an epoch and three epochs score chance."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from core.config import MIN_STEPS_PER_EPOCH, TrainConfig, default_lr
from core.train import fit_batch_to_data, train
from tests.conftest import TINY_ARCH
from tests.fixtures import make_shapes_dataset

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def four_classes(tmp_path_factory) -> Path:
    """4 classes x 60 generated 32x32 images (a small folder of the kind a class project starts from)."""
    return make_shapes_dataset(tmp_path_factory.mktemp("small"), per_class=60, seed=1)


def test_the_default_learning_rate_follows_the_batch_size():
    assert default_lr("sgd", 256) == pytest.approx(0.2)
    assert default_lr("sgd", 32) == pytest.approx(0.025)
    assert default_lr("adam", 64) == pytest.approx(1e-3)


def test_a_small_dataset_gets_a_smaller_batch_and_an_explicit_rate_a_hint():
    cfg, note = fit_batch_to_data(TrainConfig(), 216)
    assert cfg.batch_size == 16 and 216 // cfg.batch_size >= MIN_STEPS_PER_EPOCH and "batch is 16" in note
    same, hint = fit_batch_to_data(TrainConfig(lr=0.1), 216)
    assert same.batch_size == 256 and "try a batch size of 16" in hint
    assert fit_batch_to_data(TrainConfig(), 50_000) == (TrainConfig(), None)


def test_240_images_at_the_defaults_learn_well_above_chance(four_classes, tmp_path):
    events = []
    result = train(TrainConfig(data=str(four_classes), output_dir=str(tmp_path / "m"), arch_kwargs=TINY_ARCH, epochs=3,
                               tta=0, threads=1), on_progress=events.append)
    start = next(e for e in events if e["event"] == "start")
    assert start["batch_size"] == 16 and start["note"]
    assert result.metrics["val"]["top1"] >= 0.6  # chance is 0.25


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("torchrun", path=os.path.dirname(sys.executable)) is None, reason="no torchrun")
def test_240_images_learn_under_torchrun_with_two_processes(four_classes, tmp_path):
    out = tmp_path / "m"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "torchrun"), "--standalone", "--nproc_per_node", "2",
         "-m", "core.train", "--data", str(four_classes), "--output-dir", str(out), "--epochs", "3", "--tta", "0",
         "--threads", "1", "--arch-kwargs", json.dumps(TINY_ARCH)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=90, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["val"]["top1"] >= 0.6
