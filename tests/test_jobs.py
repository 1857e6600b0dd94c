"""Background training jobs and teaching new classes (core.jobs, core.teach).

Each job is a real spawned process, so these tests take a few seconds each; they are kept to the few that
matter: a job end to end, cancel, a crash, refusal of a second job and of absurd settings, and teaching.
"""

from __future__ import annotations

import os
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from core.checkpoint import CheckpointStore, load_checkpoint
from core.errors import CheckpointError, ConfigError, DataError, JobError
from core.jobs import JobManager, job_slug, unique_dir
from core.teach import CaptureStore, parse_class_names, start_teach
from core.train import TrainConfig
from tests.conftest import TINY_ARCH
from tests.fixtures import shape_image

JOB_TIMEOUT = 120  # seconds; generous because the machine may be busy with other training


def tiny_config(data: Path, **overrides) -> TrainConfig:
    kwargs = dict(data=str(data), arch="resnet", arch_kwargs=TINY_ARCH, epochs=2, batch_size=16, optimizer="adam",
                  lr=3e-3, val_fraction=0.25, tta=0, log_every=1)
    return TrainConfig(**{**kwargs, **overrides})


def leftovers(runs: Path) -> list[str]:
    return sorted(p.name for p in runs.iterdir()) if runs.exists() else []


def _exit_runner(cfg, on_progress, should_stop):
    """A training process that dies without a word (as after an out-of-memory kill)."""
    os._exit(3)


def test_job_trains_in_the_background_reports_progress_and_publishes_a_loadable_checkpoint(shapes_dir, tmp_path):
    runs = tmp_path / "runs"
    jobs = JobManager(runs)
    jobs.start([tiny_config(shapes_dir)], name="Shapes job!")
    seen_states = set()
    deadline = time.time() + JOB_TIMEOUT
    while jobs.status().busy and time.time() < deadline:
        seen_states.add(jobs.status().state)
        time.sleep(0.05)
    status = jobs.status()

    assert status.state == "done", status.log
    assert "running" in seen_states
    assert status.output_dir == str(runs / "shapes-job")
    assert [row["epoch"] for row in status.history] == [1, 2]
    assert all(0 <= row["val_acc"] <= 1 and row["train_loss"] > 0 for row in status.history)
    assert status.curve and status.curve[-1]["x"] == pytest.approx(2.0)
    assert status.epoch == 2 and status.epochs == 2 and status.elapsed > 0
    assert any(line.startswith("epoch 2/2") for line in status.log)
    assert status.val_acc is not None
    ckpt = load_checkpoint(status.output_dir)
    assert ckpt.classes == ["circle", "cross", "square", "triangle"]
    assert (Path(status.output_dir) / "metrics.json").is_file() and (Path(status.output_dir) / "README.md").is_file()
    assert leftovers(runs) == ["shapes-job"]  # the working folder and resume file are gone
    assert any(path.endswith("shapes-job") for _, path in CheckpointStore(runs).choices())


def test_cancel_stops_within_seconds_leaves_nothing_and_a_second_launch_is_refused_meanwhile(shapes_dir, tmp_path):
    runs = tmp_path / "runs"
    (runs / "kept").mkdir(parents=True)  # an existing folder must survive untouched
    jobs = JobManager(runs)
    jobs.start([tiny_config(shapes_dir, epochs=500, batch_size=8)], name="long")
    with pytest.raises(JobError, match="already running"):
        jobs.start([tiny_config(shapes_dir)], name="second")
    deadline = time.time() + JOB_TIMEOUT
    while not jobs.status().curve and time.time() < deadline:  # wait until it is really training
        time.sleep(0.05)
    assert jobs.status().state == "running"

    asked = time.time()
    jobs.cancel()
    status = jobs.wait(timeout=15)
    assert status.state == "cancelled"
    assert time.time() - asked < 6
    assert leftovers(runs) == ["kept"]
    with pytest.raises(JobError, match="nothing to cancel"):
        jobs.cancel()


def test_a_job_that_raises_is_reported_and_the_manager_keeps_working(shapes_dir, tiny_checkpoint, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    for f in ("config.json", "metrics.json"):
        (broken / f).write_bytes((tiny_checkpoint / f).read_bytes())
    (broken / "model.safetensors").write_bytes(b"not weights")
    runs = tmp_path / "runs"
    jobs = JobManager(runs)
    jobs.start([tiny_config(shapes_dir, init_from=str(broken))], name="from-broken")
    status = jobs.wait(JOB_TIMEOUT)
    assert status.state == "failed"
    assert "model.safetensors" in status.error and "corrupt" in status.error
    assert any("error:" in line for line in status.log)
    assert leftovers(runs) == []

    # a process that dies without reporting is noticed too, and the next launch is accepted
    crashing = JobManager(runs, runner=_exit_runner)
    crashing.start([tiny_config(shapes_dir)], name="dies")
    status = crashing.wait(JOB_TIMEOUT)
    assert status.state == "failed" and "exit code 3" in status.error
    assert leftovers(runs) == []


@pytest.mark.parametrize("overrides, message", [
    (dict(lr=-0.1), "learning rate must be in"),
    (dict(epochs=0), "epochs must be at least 1"),
    (dict(batch_size=0), "batch size must be between"),
    (dict(dropout=1.5), "dropout must be in"),
    (dict(optimizer="rmsprop"), "optimizer must be one of"),
    (dict(augment="flip,rotate"), "rotate"),
    (dict(freeze_backbone=True), "freezing the backbone needs"),
])
def test_absurd_hyper_parameters_are_refused_with_a_clear_message_before_any_process_starts(shapes_dir, tmp_path,
                                                                                              overrides, message):
    jobs = JobManager(tmp_path / "runs")
    with pytest.raises(ConfigError, match=message):
        jobs.start([tiny_config(shapes_dir, **overrides)], name="absurd")
    assert jobs.status().state == "idle"
    assert leftovers(tmp_path / "runs") == []


def test_missing_inputs_and_bad_names_are_refused(shapes_dir, tmp_path):
    jobs = JobManager(tmp_path / "runs")
    with pytest.raises(DataError, match="no dataset"):
        jobs.start([tiny_config(tmp_path / "nowhere")], name="x")
    with pytest.raises(CheckpointError, match="no checkpoint"):
        jobs.start([tiny_config(shapes_dir, init_from=str(tmp_path / "nothing"))], name="x")
    with pytest.raises(ConfigError, match="no letters or digits"):
        jobs.start([tiny_config(shapes_dir)], name=" !! ")
    assert job_slug("My Keys & Mug") == "my-keys-mug"
    (tmp_path / "m").mkdir()
    assert unique_dir(tmp_path, "m").name == "m-2"


# ---------------------------------------------------------------------------------------------------------------
# Teaching new classes


def test_class_names_are_checked():
    assert parse_class_names(" keys ,  my mug ") == ["keys", "my mug"]
    for bad, message in [("keys", "name 2 to 5"), ("a,b,c,d,e,f", "name 2 to 5"), ("keys,Keys", "different name"),
                         ("keys,../x", "use letters"), ("keys,train", "reserved")]:
        with pytest.raises(ConfigError, match=message):
            parse_class_names(bad)


def test_snapshots_are_stored_per_class_exported_as_an_image_folder_zip_and_deleted(tmp_path):
    from core.data import load_images

    store = CaptureStore(tmp_path / "captures")
    store.set_classes("red, blue")
    rng = np.random.default_rng(0)
    for _ in range(3):
        store.add("red", np.asarray(shape_image("circle", 200, rng)))  # webcam frames arrive as numpy arrays
    assert store.add("blue", shape_image("square", 64, rng)) == 1
    assert store.counts() == {"red": 3, "blue": 1}
    with pytest.raises(DataError, match="blue \\(1\\)"):
        store.check_ready()
    with pytest.raises(ConfigError, match="not one of the named classes"):
        store.add("green", shape_image("square", 64, rng))

    zipped = store.export_zip(tmp_path / "out" / "snapshots.zip")
    names = zipfile.ZipFile(zipped).namelist()
    assert sorted(names) == ["train/blue/0000.jpg", "train/red/0000.jpg", "train/red/0001.jpg", "train/red/0002.jpg"]
    ds = load_images(zipped, "train", input_size=32)
    assert ds.classes == ["blue", "red"] and len(ds) == 4

    store.set_classes("red, green")  # renaming drops the snapshots of a class no longer named
    assert store.counts() == {"red": 3, "green": 0}
    store.clear("red")
    assert store.counts() == {"red": 0, "green": 0}
    store.delete_all()
    assert store.classes() == [] and not (tmp_path / "captures").exists()


def test_teaching_new_classes_yields_a_model_with_the_new_names(tiny_checkpoint, tmp_path):
    store = CaptureStore(tmp_path / "captures")
    store.set_classes(["apples", "keys"])
    rng = np.random.default_rng(1)
    for _ in range(12):
        store.add("apples", shape_image("circle", 96, rng))
        store.add("keys", shape_image("cross", 96, rng))
    runs = tmp_path / "runs"
    jobs = JobManager(runs)
    start_teach(jobs, store, tiny_checkpoint, finetune=True)
    store.clear()  # the job trains on its own copy, so capturing or deleting meanwhile is safe
    status = jobs.wait(JOB_TIMEOUT)

    assert status.state == "done", status.log
    assert status.kind == "teach" and status.phases == 2
    assert {row["phase"] for row in status.history} == {1, 2}
    ckpt = load_checkpoint(status.output_dir)
    assert Path(status.output_dir).name == "taught-apples-keys"
    assert ckpt.classes == ["apples", "keys"]
    assert ckpt.input_size == load_checkpoint(tiny_checkpoint).input_size
    assert leftovers(runs) == ["taught-apples-keys"]
