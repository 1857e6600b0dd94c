"""The Train tab's callbacks as plain functions (no browser): launching the lab and teaching, refusing, progress,
selectors."""

from __future__ import annotations

import time
from pathlib import Path

import gradio as gr
import numpy as np
import pytest

from core.checkpoint import CheckpointStore, load_checkpoint
from core.errors import CheckpointError, ConfigError, DataError, JobError
from core.jobs import ORIGIN_FILE, JobManager, JobStatus, made_models, model_origin
from core.teach import CaptureStore
from demo import lab, teach
from demo.common import AppContext
from demo.lab import CAPTURED, UPLOADED, LabSettings, curve_frames, launch_lab, status_markdown, tick
from demo.teach import launch_teach
from demo.ui import build_app
from tests.fixtures import shape_image

JOB_TIMEOUT = 600  # seconds: a job process starting on a machine busy with other training waits long for a core
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
        (dict(l1=-1e-4), ConfigError, "L1 regularisation must be in"),
        (dict(l1=float("nan")), ConfigError, "L1 regularisation must be a finite number"),
        (dict(l1=float("inf")), ConfigError, "L1 regularisation must be a finite number"),
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
                     hyper(epochs=2), owner="a" * 32)
    with pytest.raises(JobError, match="already running"):
        launch_lab(ctx, jobs, store, "", str(tiny_checkpoint), "resnet", str(shapes_dir), None, hyper())
    first = tick(ctx, jobs, -1, before, job, before[0][1])
    assert "shapes-resnet-tuned" in first["status"] and isinstance(first["cancel"], gr.Button)
    status = jobs.wait(JOB_TIMEOUT)
    assert status.state == "done", status.log

    updates = tick(ctx, jobs, first["version"], before, job, before[0][1])
    assert "✅" in updates["status"] and "validation accuracy" in updates["status"]
    loss, acc, weights = updates["loss"], updates["acc"], updates["weights"]
    assert set(loss["series"]) == {"train (running)", "train", "validation"} and acc["value"].between(0, 1).all()
    # the validation curve starts at epoch 0: the starting network, measured before the first step
    validation = acc[acc.series == "validation"]
    assert validation["epoch"].tolist() == [0, 1, 2]
    assert status.baselines[0]["val_acc"] == pytest.approx(validation["value"].iloc[0])
    assert weights["epoch"].tolist() == [0, 1, 2] and (weights["value"] > 0).all()
    assert "before the first step" in updates["log"] and "epoch 2/2" in updates["log"]
    model_menu = updates["model"]
    assert isinstance(model_menu, gr.Dropdown) and model_menu.value == status.output_dir
    assert status.output_dir in [p for _, p in model_menu.choices]
    assert updates["launched"] is None  # this browser has taken its result
    load_checkpoint(status.output_dir)
    assert model_origin(status.output_dir) == {**model_origin(status.output_dir), "kind": "train", "owner": "a" * 32}

    # another browser sees the new model in its menus but keeps its own selection
    other = tick(ctx, jobs, -1, before, None, before[0][1])
    assert other["model"].value == before[0][1] and status.output_dir in [p for _, p in other["model"].choices]
    # and once up to date, an idle tick sends nothing
    quiet = tick(ctx, jobs, status.version, ctx.store.choices(), None, before[0][1])
    assert all(isinstance(u, type(gr.skip())) for u in quiet.values())


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
    assert tick(ctx, jobs, -1, None, None, None)["status"] == shown  # the tab still answers


def fill_two_classes(store: CaptureStore, per_class: int = 8) -> None:
    store.set_classes("apples, keys")
    rng = np.random.default_rng(5)
    for _ in range(per_class):
        store.add("apples", np.asarray(shape_image("circle", 120, rng)))
        store.add("keys", np.asarray(shape_image("cross", 120, rng)))


def test_teaching_selects_the_new_model_and_its_live_bars_and_stays_on_the_teach_screen(setup, tiny_checkpoint):
    ctx, jobs, store = setup
    fill_two_classes(store)
    key = "b" * 32
    job = launch_teach(jobs, store, str(tiny_checkpoint), "my things", finetune=False, owner=key)
    assert "my-things" in teach.teach_result_markdown(jobs.status())  # beside the Teach button while it runs
    status = jobs.wait(JOB_TIMEOUT)
    assert status.state == "done", status.log
    updates = tick(ctx, jobs, -1, None, job, str(tiny_checkpoint), viewer=key)
    assert Path(updates["model"].value).name == "my-things"
    assert updates["taught"].value == status.output_dir  # the camera's bars switch to it
    assert [p for _, p in updates["taught"].choices] == [status.output_dir]  # only models made here, no shipped one
    assert "✅" in updates["result"] and "live answers" in updates["result"]
    assert "tabs" not in updates  # no jump to another tab: the teach screen's camera keeps running
    assert load_checkpoint(updates["model"].value).classes == ["apples", "keys"]
    assert teach.own_newest(ctx, key) == status.output_dir and teach.own_newest(ctx, "c" * 32) is None
    rng = np.random.default_rng(9)
    verdict, bars, state = teach.live_bars(ctx, np.asarray(shape_image("circle", 120, rng)), status.output_dir, None)
    assert set(bars) == {"apples", "keys"} and sum(bars.values()) == pytest.approx(1, abs=1e-4)
    assert verdict.startswith("### ") and state is not None
    assert teach.live_bars(ctx, None, None, None)[0] == teach.NO_MODEL_YET


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
    running.baselines = [{"phase": 2, "val_loss": 1.5, "val_acc": 0.3, "val_images": 10, "mean_abs_weight": 0.1}]
    loss, _, weights = curve_frames(running)
    assert loss[loss.series == "validation"]["epoch"].tolist() == [1, 2, 2, 3]  # phase 2 continues the axis from 2
    assert loss[loss.series == "train (running)"]["epoch"].tolist() == [2.5]
    assert weights["epoch"].tolist() == [2]  # rows without the figure draw nothing


def test_the_tab_builds_inside_the_app_and_is_absent_without_training(tiny_checkpoint, tmp_path):
    with_tab = build_app(tiny_checkpoint.parent, allow_training=True, runs_dir=tmp_path / "runs")
    ids = {getattr(b, "elem_id", None) for b in with_tab.blocks.values()}
    assert {"teach-capture-0", "teach-bars", "teach-models", "teach-model-delete", "lab-start", "lab-l1",
            "train-cancel", "train-status", "train-weights"} <= ids
    without = build_app(tiny_checkpoint.parent, allow_training=False, runs_dir=tmp_path / "runs")
    assert "lab-start" not in {getattr(b, "elem_id", None) for b in without.blocks.values()}


def test_every_capture_click_counts_even_while_the_last_snapshot_is_being_stored(tiny_checkpoint, tmp_path):
    # Gradio's default trigger mode ("once") drops clicks made while the previous event is pending.
    app = build_app(tiny_checkpoint.parent, allow_training=True, runs_dir=tmp_path / "runs")
    for i in range(teach.MAX_CLASSES):
        capture = next(b for b in app.blocks.values() if getattr(b, "elem_id", None) == f"teach-capture-{i}")
        modes = [fn.trigger_mode for fn in app.fns.values() if any(t[0] == capture._id for t in fn.targets)]
        assert modes == ["multiple"]


def test_the_lab_fine_tunes_a_trained_network_with_small_rates_unless_told_otherwise():
    from core.config import OPTIMIZER_LR
    from demo.lab import LabSettings, lab_config

    scratch = lab_config(None, "resnet", "data", LabSettings())
    tuned = lab_config("checkpoints/imagenet-mobilenetv2", "resnet", "data", LabSettings())
    typed = lab_config("checkpoints/imagenet-mobilenetv2", "resnet", "data", LabSettings(lr=0.05))
    assert scratch.lr == OPTIMIZER_LR["sgd"] and scratch.backbone_lr_scale == 1.0
    assert tuned.lr == pytest.approx(OPTIMIZER_LR["sgd"] / 20) and tuned.backbone_lr_scale == pytest.approx(0.1)
    assert typed.lr == 0.05 and typed.backbone_lr_scale == pytest.approx(0.1)
    assert tuned.l1 == 0 and lab_config(None, "resnet", "data", LabSettings(l1=1e-5)).l1 == 1e-5
    assert tuned.label_smoothing == pytest.approx(0.1)  # as the shipped models were trained


# ---------------------------------------------------------------------------------------------------------------
# Each browser's classes, taught models and deleting them


def test_a_browser_keeps_its_classes_under_its_own_key_and_renaming_a_class_keeps_its_snapshots(setup):
    ctx, _, _ = setup
    mine, other = teach.browser_key(None), teach.browser_key("")
    assert mine != other and teach.browser_key(mine) == mine  # a stored key is kept, a missing one made
    assert teach.browser_key("../../etc") != "../../etc"
    store = teach.synced_store(ctx, mine, ["", "", "", "", ""])  # blank cards take their default names
    assert store.classes() == ["Class 1", "Class 2"]
    rng = np.random.default_rng(1)
    for _ in range(3):
        store.add("Class 1", np.asarray(shape_image("circle", 64, rng)))
    store.add("Class 2", np.asarray(shape_image("cross", 64, rng)))
    store = teach.synced_store(ctx, mine, ["keys", "mug", "Class 3", "", ""])  # two cards shown: two names used
    assert store.counts() == {"keys": 3, "mug": 1}
    store.rename_classes(["mug", "keys"])  # a swap keeps each card's snapshots under its new name
    assert store.counts() == {"mug": 3, "keys": 1}
    assert teach.capture_store(ctx, mine) is store  # one store (and one lock) per browser
    assert teach.capture_store(ctx, other).classes() == []  # another browser sees none of them
    cards = teach.class_cards(store)
    n = teach.MAX_CLASSES
    assert [c.visible for c in cards[:n]] == [True, True, False, False, False]
    assert cards[n:n + 2] == ["mug", "keys"] and len(cards[2 * n]) == 3 and "**3** snapshots" in cards[3 * n]
    with pytest.raises(ConfigError, match="different name"):
        teach.synced_store(ctx, mine, ["mug", "mug"])
    with pytest.raises(DataError, match="reload"):
        teach.capture_store(ctx, "not-a-key")


def test_a_visitor_deletes_only_their_own_taught_models_the_presenter_any_and_no_one_a_shipped_one(
        setup, tiny_checkpoint):
    ctx, jobs, store = setup
    fill_two_classes(store)
    alice, bob = "a" * 32, "b" * 32
    launch_teach(jobs, store, str(tiny_checkpoint), "alices", False, owner=alice)
    first = jobs.wait(JOB_TIMEOUT)
    launch_teach(jobs, store, str(tiny_checkpoint), "bobs", False, owner=bob)
    second = jobs.wait(JOB_TIMEOUT)
    assert first.state == second.state == "done"
    assert made_models(ctx.runs_dir) == [Path(second.output_dir), Path(first.output_dir)]  # newest first
    assert [label for label, _ in teach.made_choices(ctx)][0].startswith("bobs")

    with pytest.raises(JobError, match="another browser"):
        lab.delete_taught(ctx, first.output_dir, bob)
    with pytest.raises(CheckpointError, match="not a model made in this app"):
        lab.delete_taught(ctx, str(tiny_checkpoint), None)  # a shipped model, even for the presenter
    (ctx.runs_dir / "from-the-command-line").mkdir()
    for f in ("config.json", "model.safetensors", "metrics.json"):
        (ctx.runs_dir / "from-the-command-line" / f).write_bytes((tiny_checkpoint / f).read_bytes())
    with pytest.raises(CheckpointError, match="not made in this app"):
        lab.delete_taught(ctx, str(ctx.runs_dir / "from-the-command-line"), None)
    with pytest.raises(CheckpointError, match="not a model made"):
        lab.delete_taught(ctx, str(ctx.runs_dir / ".captures"), None)
    with pytest.raises(ConfigError, match="choose"):
        lab.delete_taught(ctx, None, alice)

    assert lab.delete_taught(ctx, first.output_dir, alice) == "alices"
    assert lab.delete_taught(ctx, second.output_dir, None) == "bobs"  # the presenter
    assert made_models(ctx.runs_dir) == [] and not Path(first.output_dir).exists()
    assert str(tiny_checkpoint) in [p for _, p in ctx.store.choices()]
    assert not list(ctx.runs_dir.glob(".deleted-*")) and (ctx.runs_dir / "from-the-command-line").is_dir()
    assert not (tiny_checkpoint / ORIGIN_FILE).exists()


def test_a_taught_two_class_model_has_no_fitted_temperature_and_can_say_not_sure(setup, tiny_checkpoint, tmp_path):
    from dataclasses import replace

    from core.explain import unsure_threshold
    from core.predict import preprocess, probabilities
    from core.teach import teach_phases
    from core.train import train

    ctx, _, store = setup
    fill_two_classes(store)
    out = tmp_path / "taught"
    train(replace(teach_phases(store.root, tiny_checkpoint)[0], output_dir=str(out), threads=1))
    ckpt = load_checkpoint(out)
    # nothing fitted on the 3 validation snapshots a class: config.json keeps the neutral 1.0 and the recipe says so
    assert ckpt.config["temperature"] == 1.0 and ckpt.config["recipe"]["calibrate"] is False
    threshold = unsure_threshold(ckpt)
    assert 0.5 < threshold < 1  # reachable with two classes, where the top probability is at least 0.5

    def top(image) -> float:
        return float(probabilities(ckpt, preprocess(image, ckpt).tensor)[0].max())

    assert max(top(f) for f in store.files("apples")) >= threshold  # it does answer when it knows
    assert top(np.full((120, 120, 3), 100, np.uint8)) < threshold  # an empty grey scene: "not sure"
    verdict, _, _ = teach.live_bars(ctx, np.full((120, 120, 3), 100, np.uint8), str(out), None)
    assert verdict.startswith("### not sure")  # and the live bars' headline says so


# ---------------------------------------------------------------------------------------------------------------
# L1 regularisation (the lab's box, core.train's --l1)


def test_l1_regularisation_pulls_the_trained_weights_toward_zero(shapes_dir, tiny_checkpoint, tmp_path):
    from core.config import TrainConfig
    from core.train import build_parser, train

    def run(l1: float) -> tuple[float, float]:
        events = []
        cfg = TrainConfig(data=str(shapes_dir), init_from=str(tiny_checkpoint), output_dir=str(tmp_path / f"l1-{l1}"),
                          freeze_backbone=True, epochs=8, batch_size=16, optimizer="adam", lr=1e-2, wd=0.0, l1=l1,
                          augment="flip", val_fraction=0.25, tta=0, calibrate=False, log_every=1000, threads=1)
        train(cfg, on_progress=events.append)
        start = next(e for e in events if e["event"] == "baseline")["mean_abs_weight"]
        return start, [e for e in events if e["event"] == "epoch"][-1]["mean_abs_weight"]

    start, plain = run(0.0)
    same_start, penalised = run(0.5)
    assert start == pytest.approx(same_start)  # the same head to begin with: only the penalty differs
    assert penalised < 0.5 * plain and penalised < 0.5 * start
    assert build_parser().parse_args(["--l1", "1e-5"]).l1 == 1e-5


def test_a_run_resumes_when_its_recipe_lacks_a_setting_added_since_at_its_default(tmp_path):
    from dataclasses import asdict

    from core.config import TrainConfig
    from core.train import _check_resumable

    recipe = asdict(TrainConfig())
    older = {k: v for k, v in recipe.items() if k != "l1"}  # a resume file written before L1 existed
    _check_resumable(tmp_path / "r.pt", older, recipe)
    with pytest.raises(ConfigError, match="l1"):
        _check_resumable(tmp_path / "r.pt", older, {**recipe, "l1": 1e-4})
