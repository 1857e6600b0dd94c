"""The Train tab's callbacks as plain functions (no browser): launching the lab and teaching, refusing, progress,
selectors."""

from __future__ import annotations

import time
from pathlib import Path

import gradio as gr
import numpy as np
import pytest

from core.checkpoint import CheckpointStore, load_checkpoint
from core.errors import ConfigError, DataError, JobError
from core.jobs import JobManager, JobStatus
from core.teach import CaptureStore
from demo import lab
from demo.common import AppContext
from demo.lab import CAPTURED, UPLOADED, LabSettings, curve_frames, launch_lab, status_markdown, tick
from demo.teach import launch_teach
from demo.ui import build_app
from tests.fixtures import shape_image

JOB_TIMEOUT = 120
HYPER = dict(optimizer="adam", lr=3e-3, schedule="onecycle", batch_size=16, epochs=1, wd=5e-4, dropout=None,
             label_smoothing=0.0, augment=["flip"], freeze_backbone=False, early_stop=0, max_minutes=0)


def hyper(**overrides) -> LabSettings:
    return LabSettings(**{**HYPER, **overrides})


@pytest.fixture
def setup(tiny_checkpoint, tmp_path):
    runs = tmp_path / "runs"
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "toys-train-jpg.tar.gz").write_bytes(b"")  # only listed, never loaded
    ctx = AppContext(CheckpointStore(tiny_checkpoint.parent, runs), runs_dir=runs, data_dir=data_dir)
    return ctx, JobManager(runs), CaptureStore(runs / ".captures")


def test_absurd_settings_get_clear_messages_before_anything_runs(setup, shapes_dir, tiny_checkpoint):
    ctx, jobs, store = setup
    base = str(tiny_checkpoint)
    cases = [
        (dict(lr=-1.0), ConfigError, "learning rate must be in \\(0, 10\\]"),
        (dict(lr=0.0), ConfigError, "learning rate must be in"),
        (dict(epochs=0), ConfigError, "epochs must be at least 1"),
        (dict(epochs=2.5), ConfigError, "epochs must be a whole number"),
        (dict(batch_size=100_000), ConfigError, "batch size must be between"),
        (dict(wd=3.0), ConfigError, "weight decay must be in"),
        (dict(label_smoothing=1.0), ConfigError, "label smoothing must be in"),
        (dict(dropout="-0.2"), ConfigError, "dropout must be in"),
        (dict(dropout="lots"), ConfigError, "dropout must be a number"),
        (dict(max_minutes=-5), ConfigError, "max minutes must be positive"),
        (dict(early_stop=-1), ConfigError, "early-stop patience"),
    ]
    for overrides, error, message in cases:
        with pytest.raises(error, match=message):
            launch_lab(ctx, jobs, store, "x", base, "resnet", str(shapes_dir), None, hyper(**overrides))
    with pytest.raises(ConfigError, match="not 'from scratch'"):
        launch_lab(ctx, jobs, store, "x", "", "resnet", str(shapes_dir), None, hyper(freeze_backbone=True))
    with pytest.raises(DataError, match="at least 2 classes"):
        launch_lab(ctx, jobs, store, "x", base, "resnet", CAPTURED, None, hyper())
    with pytest.raises(DataError, match="upload a .zip"):
        launch_lab(ctx, jobs, store, "x", base, "resnet", UPLOADED, None, hyper())
    with pytest.raises(ConfigError, match="Model menu"):
        launch_teach(jobs, store, None, "", False)
    assert jobs.status().state == "idle"


def test_uploads_are_capped_and_must_be_archives(setup, tmp_path):
    ctx, jobs, store = setup
    not_archive = tmp_path / "photo.png"
    not_archive.write_bytes(b"x")
    with pytest.raises(DataError, match="not a .zip"):
        lab.keep_upload(ctx, str(not_archive))
    big = tmp_path / "big.zip"
    big.write_bytes(b"\0" * (2 * 1024**2))
    ctx.max_upload_mb = 1
    with pytest.raises(DataError, match="limited to 1 MB"):
        lab.keep_upload(ctx, str(big))
    ctx.max_upload_mb = 5
    kept = Path(lab.keep_upload(ctx, str(big)))
    assert kept.parent == ctx.runs_dir / ".uploads" and kept.read_bytes() == big.read_bytes()


def test_dataset_menu_offers_the_data_dir_the_captures_and_an_upload(setup):
    ctx, jobs, store = setup
    store.set_classes("keys, mug")
    choices = lab.dataset_choices(ctx, store)
    assert choices[0] == ("toys-train-jpg.tar.gz", str(ctx.data_dir / "toys-train-jpg.tar.gz"))
    assert choices[1] == ("the captured classes (keys, mug)", CAPTURED)
    assert choices[2][1] == UPLOADED


def test_a_lab_job_runs_to_the_end_and_the_new_model_appears_and_is_selected_in_the_launching_browser(
        setup, shapes_dir, tiny_checkpoint):
    ctx, jobs, store = setup
    before = ctx.store.choices()
    job = launch_lab(ctx, jobs, store, "", str(tiny_checkpoint), "resnet", str(shapes_dir), None,
                     hyper(epochs=2))
    with pytest.raises(JobError, match="already running"):
        launch_lab(ctx, jobs, store, "", str(tiny_checkpoint), "resnet", str(shapes_dir), None, hyper())
    first = tick(ctx, jobs, -1, before, job, before[0][1])
    assert "shapes-resnet-tuned" in first[0] and isinstance(first[4], gr.Button)
    status = jobs.wait(JOB_TIMEOUT)
    assert status.state == "done", status.log

    updates = tick(ctx, jobs, first[9], before, job, before[0][1])
    assert "✅" in updates[0] and "validation accuracy" in updates[0]
    loss, acc = updates[1], updates[2]
    assert set(loss["series"]) == {"train (running)", "train", "validation"} and acc["value"].between(0, 1).all()
    assert "epoch 2/2" in updates[3]
    model_menu = updates[7]
    assert isinstance(model_menu, gr.Dropdown) and model_menu.value == status.output_dir
    assert status.output_dir in [p for _, p in model_menu.choices]
    assert updates[11] is None  # this browser has taken its result
    load_checkpoint(status.output_dir)

    # another browser sees the new model in its menus but keeps its own selection
    other = tick(ctx, jobs, -1, before, None, before[0][1])
    assert other[7].value == before[0][1] and status.output_dir in [p for _, p in other[7].choices]
    # and once up to date, an idle tick sends nothing
    quiet = tick(ctx, jobs, status.version, ctx.store.choices(), None, before[0][1])
    assert all(isinstance(u, type(gr.skip())) for u in quiet)


def test_a_crashing_job_is_reported_in_the_tab_and_the_app_keeps_answering(setup, tmp_path, tiny_checkpoint):
    ctx, jobs, store = setup
    corrupt = tmp_path / "broken.zip"
    corrupt.write_bytes(b"PK\x03\x04 this is not really a zip")
    launch_lab(ctx, jobs, store, "broken", str(tiny_checkpoint), "resnet", UPLOADED, str(corrupt), hyper())
    status = jobs.wait(JOB_TIMEOUT)
    assert status.state == "failed"
    shown = status_markdown(status)
    assert shown.startswith("❌") and "not a readable archive" in shown
    assert "Traceback" not in shown
    assert tick(ctx, jobs, -1, None, None, None)[0] == shown  # the tab still answers


def test_teaching_from_the_tab_selects_the_new_model_and_switches_to_the_live_tab(setup, tiny_checkpoint):
    ctx, jobs, store = setup
    store.set_classes("apples, keys")
    rng = np.random.default_rng(5)
    for _ in range(8):
        store.add("apples", np.asarray(shape_image("circle", 120, rng)))
        store.add("keys", np.asarray(shape_image("cross", 120, rng)))
    job = launch_teach(jobs, store, str(tiny_checkpoint), "my things", finetune=False)
    status = jobs.wait(JOB_TIMEOUT)
    assert status.state == "done", status.log
    updates = tick(ctx, jobs, -1, None, job, str(tiny_checkpoint))
    assert Path(updates[7].value).name == "my-things"
    assert load_checkpoint(updates[7].value).classes == ["apples", "keys"]
    assert updates[12].selected == "live"


def test_status_lines_and_curves_for_every_state():
    assert "No training job yet" in status_markdown(JobStatus())
    running = JobStatus(id="a", name="m", state="running", phase=2, phases=2, epoch=1, epochs=3, step=4,
                        steps_per_epoch=10, started=time.time() - 65, remaining=30)
    line = status_markdown(running)
    assert "phase 2/2" in line and "epoch 1/3" in line and "step 4/10" in line and "1:05 elapsed" in line
    assert "0:30 remaining" in line
    assert "cancelled" in status_markdown(JobStatus(name="m", state="cancelled", started=time.time()))
    row = dict(train_loss=1.0, train_acc=0.5, val_loss=1.2, val_acc=0.4)
    running.history = [{"phase": 1, "epoch": 1, **row}, {"phase": 1, "epoch": 2, **row}, {"phase": 2, "epoch": 1, **row}]
    running.curve = [{"phase": 2, "x": 0.5, "loss": 0.9, "acc": 0.6}]
    loss, _ = curve_frames(running)
    assert loss[loss.series == "validation"]["epoch"].tolist() == [1, 2, 3]  # phase 2 continues the axis
    assert loss[loss.series == "train (running)"]["epoch"].tolist() == [2.5]


def test_the_tab_builds_inside_the_app_and_is_absent_without_training(tiny_checkpoint, tmp_path):
    with_tab = build_app(tiny_checkpoint.parent, allow_training=True, runs_dir=tmp_path / "runs")
    ids = {getattr(b, "elem_id", None) for b in with_tab.blocks.values()}
    assert {"teach-capture", "lab-start", "train-cancel", "train-status"} <= ids
    without = build_app(tiny_checkpoint.parent, allow_training=False, runs_dir=tmp_path / "runs")
    assert "lab-start" not in {getattr(b, "elem_id", None) for b in without.blocks.values()}


def test_every_capture_click_counts_even_while_the_last_snapshot_is_being_stored(tiny_checkpoint, tmp_path):
    # Gradio's default trigger mode ("once") drops clicks made while the previous event is pending.
    app = build_app(tiny_checkpoint.parent, allow_training=True, runs_dir=tmp_path / "runs")
    capture = next(b for b in app.blocks.values() if getattr(b, "elem_id", None) == "teach-capture")
    modes = [fn.trigger_mode for fn in app.fns.values() if any(t[0] == capture._id for t in fn.targets)]
    assert modes == ["multiple"]


def test_the_lab_fine_tunes_a_trained_network_with_small_rates_unless_told_otherwise():
    from core.config import OPTIMIZER_LR
    from demo.lab import LabSettings, lab_config

    scratch = lab_config(None, "resnet", "data", LabSettings())
    tuned = lab_config("checkpoints/imagenet-mobilenetv2", "resnet", "data", LabSettings())
    typed = lab_config("checkpoints/imagenet-mobilenetv2", "resnet", "data", LabSettings(lr=0.05))
    assert scratch.lr == OPTIMIZER_LR["sgd"] and scratch.backbone_lr_scale == 1.0
    assert tuned.lr == pytest.approx(OPTIMIZER_LR["sgd"] / 10) and tuned.backbone_lr_scale == pytest.approx(0.1)
    assert typed.lr == 0.05 and typed.backbone_lr_scale == pytest.approx(0.1)
