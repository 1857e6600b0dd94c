import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from safetensors.torch import load_file

import core.train
from core.checkpoint import load_checkpoint
from core.errors import ConfigError, DataError
from core.train import Cancelled, TrainConfig, lr_factor, main, progressive_size, train
from tests.conftest import TINY_ARCH
from tests.fixtures import make_shapes_dataset

REPO = Path(__file__).resolve().parent.parent


def _cfg(data, out, **kw) -> TrainConfig:
    base = TrainConfig(data=str(data), output_dir=str(out), arch="resnet", arch_kwargs=TINY_ARCH, epochs=3, batch_size=16,
                       optimizer="adam", lr=3e-3, val_fraction=0.25, tta=0, log_every=1)
    return replace(base, **kw)


def test_a_few_epochs_beat_chance_and_write_a_full_checkpoint(tiny_checkpoint):
    metrics = json.loads((tiny_checkpoint / "metrics.json").read_text())
    assert metrics["val"]["top1"] > 0.5  # four classes: chance is 0.25
    assert len(metrics["history"]) == 8 and {"train_loss", "val_loss", "train_acc", "val_acc"} <= set(metrics["history"][0])
    assert (tiny_checkpoint / "curves.png").stat().st_size > 1000
    card = (tiny_checkpoint / "README.md").read_text()
    assert "python -m core.train" in card and "top-1" in card
    config = json.loads((tiny_checkpoint / "config.json").read_text())
    assert config["dataset"]["val_fraction"] == 0.25 and config["temperature"] > 0


def test_progress_reports_start_steps_epochs_and_done(shapes_dir, tmp_path):
    events = []
    train(_cfg(shapes_dir, tmp_path / "m", epochs=2), on_progress=events.append)
    kinds = [e["event"] for e in events]
    assert kinds[0] == "start" and kinds[-1] == "done"
    assert kinds.count("epoch") == 2 and kinds.count("step") >= 2 * 5
    step = next(e for e in events if e["event"] == "step")
    assert {"epoch", "step", "steps_per_epoch", "loss", "elapsed", "remaining"} <= set(step)


def test_cancel_raises_and_resume_continues_where_it_stopped(shapes_dir, tmp_path):
    out = tmp_path / "m"
    seen_epochs = []

    def stop_after_two_epochs():
        return len(seen_epochs) >= 2

    with pytest.raises(Cancelled):
        train(_cfg(shapes_dir, out, epochs=4), on_progress=lambda e: e["event"] == "epoch" and seen_epochs.append(e),
              should_stop=stop_after_two_epochs)
    assert (tmp_path / ".m.resume.pt").exists()
    assert load_checkpoint(out)  # what was written before the cancel is a complete checkpoint
    result = train(_cfg(shapes_dir, out, epochs=4, resume=True))
    history = result.metrics["history"]
    assert [h["epoch"] for h in history] == [1, 2, 3, 4]
    assert history[:2] == [{k: v for k, v in e.items() if k not in ("event", "epochs")} for e in seen_epochs]
    assert not (tmp_path / ".m.resume.pt").exists()


def test_resume_refuses_a_resume_file_left_by_other_settings(shapes_dir, tmp_path, capsys):
    out = tmp_path / "m"
    seen_epochs = []
    with pytest.raises(Cancelled):
        train(_cfg(shapes_dir, out, epochs=4), on_progress=lambda e: e["event"] == "epoch" and seen_epochs.append(e),
              should_stop=lambda: len(seen_epochs) >= 1)
    resume_file = tmp_path / ".m.resume.pt"
    before = resume_file.read_bytes()
    # another schedule (or another learning rate) on the same folder: refused, the file and the checkpoint kept
    with pytest.raises(ConfigError, match=r"other settings \(epochs 4 then, 6 now\).*delete that file"):
        train(_cfg(shapes_dir, out, epochs=6, resume=True))
    assert main(["--data", str(shapes_dir), "--output-dir", str(out), "--arch-kwargs", json.dumps(TINY_ARCH), "--epochs",
                 "4", "--batch-size", "16", "--optimizer", "adam", "--lr", "0.5", "--val-fraction", "0.25", "--tta", "0",
                 "--resume"]) == 2
    assert "other settings (lr 0.003 then, 0.5 now)" in capsys.readouterr().err
    assert resume_file.read_bytes() == before and len(load_checkpoint(out).metrics["history"]) == 1
    # a longer time limit is not another run: it continues
    result = train(_cfg(shapes_dir, out, epochs=4, resume=True, max_minutes=30))
    assert [h["epoch"] for h in result.metrics["history"]] == [1, 2, 3, 4]


def test_time_limit_stops_cleanly_with_a_valid_checkpoint(shapes_dir, tmp_path):
    result = train(_cfg(shapes_dir, tmp_path / "m", epochs=50, max_minutes=0.0005))
    assert result.stopped_early == "time limit"
    assert len(result.metrics["history"]) <= 3  # a tiny epoch can finish inside 30 ms; 50 never do
    assert load_checkpoint(tmp_path / "m").classes == ["circle", "cross", "square", "triangle"]


def test_a_time_limit_starts_no_epoch_that_would_end_past_it(shapes_dir, tmp_path, monkeypatch):
    assert not core.train._next_epoch_past(None, 100.0, 1)  # no epoch has run yet in this process
    assert core.train._next_epoch_past(30.0, 40.0, 1)  # 40 s + a 30 s epoch > 60 s
    assert not core.train._next_epoch_past(30.0, 25.0, 1)
    calls = []
    monkeypatch.setattr(core.train, "_next_epoch_past", lambda seconds, elapsed, limit: calls.append(seconds) or len(calls) >= 3)
    result = train(_cfg(shapes_dir, tmp_path / "m", epochs=4, max_minutes=30))
    assert result.stopped_early == "time limit"
    assert [h["epoch"] for h in result.metrics["history"]] == [1, 2]
    assert calls[0] is None and calls[1] > 0  # the first epoch's length, measured in this process
    state = torch.load(tmp_path / ".m.resume.pt", weights_only=True)
    assert (state["epoch"], state.get("batch", 0)) == (2, 0)  # --resume goes on with epoch 3


@pytest.mark.parametrize("where", ["inside", "end"])  # the limit falls inside the 2nd epoch, or at its last batch
def test_a_time_limit_resumes_into_the_same_model_as_an_uninterrupted_run(shapes_dir, tmp_path, monkeypatch, where):
    # batches of 12: 7 per epoch, so an epoch does not end on a lookahead update (every 5 steps)
    cfg = _cfg(shapes_dir, tmp_path / "straight", epochs=3, batch_size=12, optimizer="sgd", lr=0.05, lookahead=True,
               augment="flip,translate,cutout", cutmix=1.0)
    straight = train(cfg)

    offset = {"seconds": 0.0}  # a clock that jumps an hour ahead at the chosen batch of the second epoch
    monkeypatch.setattr(core.train, "time", SimpleNamespace(time=lambda: time.time() + offset["seconds"]))

    def jump(event):
        last = event.get("steps_per_epoch") if where == "end" else 2
        if event["event"] == "step" and (event["epoch"], event["step"]) == (2, last):
            offset["seconds"] = 3600.0

    out = tmp_path / "interrupted"
    stopped = train(replace(cfg, output_dir=str(out), max_minutes=30), on_progress=jump)
    assert stopped.stopped_early == "time limit"
    state = torch.load(tmp_path / ".interrupted.resume.pt", weights_only=True)
    if where == "inside":
        assert [h["epoch"] for h in stopped.metrics["history"]] == [1]  # no validation row for half an epoch
        assert (state["epoch"], state["batch"]) == (1, 2)
    else:
        assert [h["epoch"] for h in stopped.metrics["history"]] == [1, 2]
        assert (state["epoch"], state["batch"]) == (2, 0)
    monkeypatch.undo()

    resumed = train(replace(cfg, output_dir=str(out), resume=True))
    def without_time(history):
        return [{k: v for k, v in h.items() if k != "seconds"} for h in history]
    assert without_time(resumed.metrics["history"]) == without_time(straight.metrics["history"])
    a, b = load_file(str(straight.output_dir / "model.safetensors")), load_file(str(out / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_early_stop_after_patience(shapes_dir, tmp_path):
    result = train(_cfg(shapes_dir, tmp_path / "m", epochs=30, lr=1e-9, early_stop=2))
    assert result.stopped_early == "early stop" and len(result.metrics["history"]) < 30
    # nothing is left to resume: no resume file beside the checkpoint
    assert not list(result.output_dir.parent.glob(f".{result.output_dir.name}.*"))


def test_fine_tune_onto_new_classes_with_a_frozen_backbone(tiny_checkpoint, tmp_path):
    new = make_shapes_dataset(tmp_path / "new", per_class=12, classes=("circle", "square"))
    before = load_file(str(tiny_checkpoint / "model.safetensors"))
    result = train(_cfg(new, tmp_path / "ft", init_from=str(tiny_checkpoint), freeze_backbone=True, epochs=2))
    ckpt = load_checkpoint(result.output_dir)
    assert ckpt.classes == ["circle", "square"]
    after = ckpt.model.state_dict()
    assert after["head.1.weight"].shape[0] == 2
    for key in ("stem.0.weight", "stage2.conv.weight", "stage1.norm.running_mean"):
        assert torch.equal(before[key], after[key])  # frozen: weights and BatchNorm statistics untouched


@pytest.mark.parametrize("change, message", [
    (dict(lr=-0.1), "learning rate"),
    (dict(epochs=0), "epochs must be at least 1"),
    (dict(batch_size=0), "batch size"),
    (dict(optimizer="rmsprop"), "optimizer"),
    (dict(augment="flip,rotate"), "unknown augmentation"),
    (dict(freeze_backbone=True), "init-from"),
    (dict(label_smoothing=1.5), "label smoothing"),
    (dict(progressive=4), "progressive start size"),
    (dict(scale_min=0), "scale-min"),
])
def test_absurd_hyper_parameters_are_refused_before_loading_data(tmp_path, change, message):
    with pytest.raises(ConfigError, match=message):
        train(_cfg(tmp_path / "does-not-exist", tmp_path / "m", **change))


def test_bad_data_is_refused_with_a_clear_message(tmp_path):
    with pytest.raises(DataError, match="no dataset"):
        train(_cfg(tmp_path / "missing", tmp_path / "m"))
    one = make_shapes_dataset(tmp_path / "one", per_class=4, classes=("circle",))
    with pytest.raises(DataError, match="two classes"):
        train(_cfg(one, tmp_path / "m"))


def test_cli_prints_the_error_and_exits_2(tmp_path, capsys):
    assert main(["--data", str(tmp_path / "nothing"), "--output-dir", str(tmp_path / "m")]) == 2
    assert "no dataset" in capsys.readouterr().err
    assert main(["--data", str(tmp_path), "--lr", "-1"]) == 2
    assert "learning rate" in capsys.readouterr().err


def test_schedules_have_their_shapes():
    cfg = TrainConfig(warmup=0.2)
    onecycle = [lr_factor(s, 100, cfg, 10) for s in range(100)]
    assert onecycle[0] == pytest.approx(0.2) and max(onecycle) == pytest.approx(1.0, abs=0.01)
    assert onecycle.index(max(onecycle)) == 20 and onecycle[-1] < 0.1
    cosine = [lr_factor(s, 100, replace(cfg, schedule="cosine"), 10) for s in range(100)]
    assert cosine[-1] < 0.01
    assert {lr_factor(s, 100, replace(cfg, schedule="constant"), 10) for s in range(100)} == {1.0}
    cyclic = [lr_factor(s, 100, replace(cfg, schedule="cyclic"), 10) for s in range(40)]
    assert cyclic[0] == pytest.approx(0.1) and cyclic[10] == pytest.approx(1.0) and cyclic[20] == pytest.approx(0.1)


@pytest.mark.slow
def test_torchrun_trains_data_parallel_with_gloo_on_two_processes(shapes_dir, tmp_path):
    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    with socket.socket() as sock:  # a free port for the rendezvous (port 0 cannot be shared between ranks)
        sock.bind(("127.0.0.1", 0))
        port = str(sock.getsockname()[1])
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
           "--master_port", port,
           "-m", "core.train", "--data", str(shapes_dir), "--output-dir", str(out), "--arch", "resnet",
           "--arch-kwargs", json.dumps(TINY_ARCH), "--epochs", "2", "--batch-size", "16", "--optimizer", "adam",
           "--lr", "0.003", "--val-fraction", "0.25", "--tta", "0", "--threads", "1"]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "processes 2" in proc.stdout  # both ranks joined one process group
    metrics = json.loads((out / "metrics.json").read_text())
    assert len(metrics["history"]) == 2 and metrics["val"]["n"] == 32


def test_whitening_stem_is_fitted_and_its_bias_trains_only_in_the_first_epochs(shapes_dir, tmp_path, monkeypatch):
    arch = {**TINY_ARCH, "stem": "whiten", "dirac": True, "shortcut": False}
    out = tmp_path / "w"
    train(_cfg(shapes_dir, out, arch_kwargs=arch, epochs=1, augment="altflip,translate", optimizer="sgd", lr=0.05))
    weights = load_file(out / "model.safetensors")
    assert weights["stem.0.weight"].abs().sum() > 0 and weights["stem.0.bias"].abs().sum() > 0  # fitted, bias trained
    monkeypatch.setattr("core.train.WHITEN_BIAS_EPOCHS", 0)
    train(_cfg(shapes_dir, out, arch_kwargs=arch, epochs=1, augment="altflip", optimizer="sgd", lr=0.05))
    assert load_file(out / "model.safetensors")["stem.0.bias"].abs().sum() == 0  # frozen from the start: stays 0
    assert load_checkpoint(out).config["arch_kwargs"]["stem"] == "whiten"


def test_progressive_resizing_trains_small_first_and_ends_at_the_input_size(shapes_dir, tmp_path, monkeypatch):
    sizes = [progressive_size(e, 100, 32, 64) for e in range(100)]
    assert sizes[0] == 32 and sizes[-1] == 64 and sizes == sorted(sizes) and all(s % 8 == 0 for s in sizes)
    assert sizes.index(64) == 75  # full size for the last quarter
    assert {progressive_size(e, 10, 0, 64) for e in range(10)} == {64}  # off
    seen = set()
    build = core.train._build_model

    def record(module, args):
        if module.training:
            seen.add(args[0].shape[-1])

    def spying_build(cfg, train_set):
        model, kwargs, base = build(cfg, train_set)
        model.register_forward_pre_hook(record)
        return model, kwargs, base

    monkeypatch.setattr(core.train, "_build_model", spying_build)
    result = train(_cfg(shapes_dir, tmp_path / "p", epochs=4, progressive=16, augment="flip,translate,scale"))
    assert [h["train_size"] for h in result.metrics["history"]] == [16, 16, 24, 32]
    assert seen == {16, 24, 32}
    assert load_checkpoint(tmp_path / "p").config["input_size"] == 32  # served and validated at the full size
    card = (tmp_path / "p" / "README.md").read_text()
    assert "progressive resizing: 16x16 images first" in card and "--progressive 16" in card


def test_the_card_command_uses_the_defaults_the_trainer_passes(tiny_checkpoint):
    # A long run writes its card with its own TrainConfig defaults, so it never re-imports core.train from a
    # working tree edited under it (a run once crashed at its very end that way).
    from core.report import train_command

    config = load_checkpoint(tiny_checkpoint).config
    command = train_command("shapes-resnet", config)
    assert "--epochs 8" in command and "--optimizer adam" in command
    assert train_command("shapes-resnet", config, defaults=config["recipe"]) == (
        f"python -m core.train --data {config['recipe']['data']} --output-dir checkpoints/shapes-resnet")


def test_an_epoch_that_ties_the_best_accuracy_wins_with_a_lower_loss():
    from core.train import is_better

    best = {"val_acc": 1.0, "val_loss": 0.6, "epoch": 2}
    assert is_better(1.0, 0.2, best) and not is_better(1.0, 0.7, best) and not is_better(0.9, 0.1, best)
    assert is_better(0.5, 9.0, {"val_acc": -1.0, "epoch": 0})  # the first epoch, and resume files without a loss
