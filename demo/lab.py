"""The Train tab: the fine-tuning lab, and the progress of the one background job (the lab's, or teaching's).

Thin callbacks over core.jobs (one background training process, its state kept on the server). The tab holds two
features: "teach it my things" (demo.teach, built here as the tab's first section) and the lab, where a visitor
starts from a trained model (or from scratch), picks a dataset and the knobs, and watches the training and
validation curves. A gr.Timer polls the job about once a second, so a reload or a second browser shows the same
job; a finished model is added to every model selector, and the browser that launched it selects it.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field, fields
from pathlib import Path

import gradio as gr
import pandas as pd

from core.archive import is_archive
from core.config import OPTIMIZER_LR, SCHEDULES, TrainConfig
from core.data import evict_least_recent, file_sha256
from core.errors import ConfigError, DataError, UserError
from core.jobs import JobManager, JobStatus, delete_made_model, manager_for
from core.teach import CaptureStore
from demo import teach
from demo.common import AppContext, finite_number, hide_paths, job_owner, warn

# ---------------------------------------------------------------------------------------------------------------
# Setup: the lab's defaults (a fine-tune that fits an exhibition's patience) and its wording

TICK_SECONDS = 1.0
FROM_SCRATCH = ""  # the "Start from" value that means a new network
CAPTURED = "@captured"  # dataset choice: the snapshots of the teach section
UPLOADED = "@uploaded"  # dataset choice: the archive uploaded below the menu
KEEP_DROPOUT = "the model's own"
DROPOUT_CHOICES = [KEEP_DROPOUT, "0", "0.1", "0.2", "0.3", "0.5"]
LAB_TTA = 0  # the job's final evaluation without test-time augmentation: quicker, and what the live view does
MAX_KEPT_UPLOAD_BYTES = 2 * 1024**3  # uploaded datasets kept for training; the least recently used go first
_D = TrainConfig()
# Started from a trained network, the lab fine-tunes: a twentieth of the from-scratch rate unless one is typed in, and
# the pretrained layers at a tenth of that (on everyday50 a head rate of 0.01 learned as well as 0.02), with label
# smoothing 0.1 as the shipped models were trained (benchmarks/lab_finetune.py on cifar10-simplecnn, validation after
# the first epoch against 85.58% before: 68.50% at the from-scratch rate, 85.42% at a tenth of it, 85.44% at a
# twentieth, 85.68% at a twentieth with label smoothing 0.1).
FINETUNE_LR_SHARE = 0.05
LAB_LABEL_SMOOTHING = 0.1
FINETUNE_BACKBONE_LR_SCALE = 0.1


@dataclass
class LabSettings:
    """The lab's knobs, as its controls give them: numbers may be floats or blank (None), dropout a menu value.
    The defaults are the controls' starting values."""

    optimizer: str = _D.optimizer
    lr: float | None = OPTIMIZER_LR[_D.optimizer]
    schedule: str = _D.schedule
    batch_size: float = _D.batch_size
    epochs: float = 3
    wd: float | None = _D.wd
    dropout: str | float | None = KEEP_DROPOUT
    label_smoothing: float | None = LAB_LABEL_SMOOTHING
    augment: list[str] | None = field(default_factory=lambda: ["flip", "translate"])
    freeze_backbone: bool = False
    early_stop: float | None = 0  # 0: off
    max_minutes: float | None = 10.0  # 0: no time limit
    l1: float | None = _D.l1  # last: scripts that call /start_training without it get the default


# ---------------------------------------------------------------------------------------------------------------
# Datasets


def dataset_choices(ctx: AppContext, store: CaptureStore | None) -> list[tuple[str, str]]:
    """(label, value) for the dataset menu: the archives and folders in ctx.data_dir, the captured classes (of
    ``store``, a visitor's snapshots; None before the page has a session), and an uploaded archive."""
    data_dir = Path(ctx.data_dir)
    found = sorted(p for p in data_dir.iterdir() if (p.is_dir() and not p.name.startswith(".")) or is_archive(p)) \
        if data_dir.is_dir() else []
    names = store.classes() if store is not None else []
    captured = f"the captured classes ({', '.join(names) or 'none named yet'})"
    return [(p.name, str(p)) for p in found] + [(captured, CAPTURED), ("an uploaded .zip / .tar.gz (below)", UPLOADED)]


def keep_upload(ctx: AppContext, upload: str | None) -> str:
    """Copy an uploaded archive (a Gradio temp file) beside the runs, checked against the size cap; returns
    its path. Raises DataError for a missing, oversized or non-archive upload."""
    if not upload:
        raise DataError("upload a .zip or .tar.gz image-folder dataset first (train/<class>/<images>)")
    path = Path(upload)
    if not is_archive(path):
        raise DataError(f"{path.name} is not a .zip, .tar.gz or .tgz archive")
    size_mb = path.stat().st_size / 1024**2
    if size_mb > ctx.max_upload_mb:
        raise DataError(f"the archive is {size_mb:.0f} MB; uploads are limited to {ctx.max_upload_mb} MB")
    suffix = ".zip" if path.name.lower().endswith(".zip") else ".tar.gz"
    kept = Path(ctx.runs_dir) / ".uploads" / f"{file_sha256(path)[:16]}{suffix}"
    if not kept.exists():
        kept.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, kept)
        evict_least_recent(kept.parent, MAX_KEPT_UPLOAD_BYTES, keep=kept)
    else:
        os.utime(kept)  # recently used: evicted last
    return str(kept)


def resolve_dataset(ctx: AppContext, store: CaptureStore, choice: str | None, upload: str | None) -> str:
    """The dataset path the job trains on for a menu choice. Raises DataError when it is not usable."""
    if choice == CAPTURED:
        store.check_ready()
        return str(store.root)
    if choice == UPLOADED:
        return keep_upload(ctx, upload)
    if not choice:
        raise DataError("choose a dataset")
    return choice


# ---------------------------------------------------------------------------------------------------------------
# Launching


def parse_dropout(value: str | float | None) -> float | None:
    """The dropout menu's value: None keeps the architecture's own. Raises ConfigError for a non-number."""
    if value is None or value == KEEP_DROPOUT or str(value).strip() == "":
        return None
    try:
        return float(value)
    except ValueError as err:
        raise ConfigError(f"dropout must be a number between 0 and 1, got {value!r}") from err


def lab_config(base: str | None, arch: str, data: str, knobs: LabSettings) -> TrainConfig:
    """The TrainConfig for the lab's controls (blank numbers take the defaults, 0 turns early stopping and the
    time limit off). Raises ConfigError for values that are not whole numbers where they must be."""

    def whole(value, label: str) -> int:
        try:
            if float(value) == int(value):
                return int(value)
        except (TypeError, ValueError, OverflowError):  # None, a word, NaN, Infinity
            pass
        raise ConfigError(f"{label} must be a whole number, got {value}")

    if knobs.freeze_backbone and not base:
        raise ConfigError("freezing the backbone needs a trained model to start from, not 'from scratch'")
    lr = knobs.lr
    if base and (lr is None or lr == OPTIMIZER_LR.get(knobs.optimizer)):
        lr = OPTIMIZER_LR[knobs.optimizer] * FINETUNE_LR_SHARE  # the from-scratch rate would wreck trained weights
    return TrainConfig(
        data=data, arch=arch or "resnet", init_from=base or None, optimizer=knobs.optimizer, lr=lr,
        backbone_lr_scale=FINETUNE_BACKBONE_LR_SCALE if base else 1.0,
        schedule=knobs.schedule, batch_size=whole(knobs.batch_size, "batch size"), epochs=whole(knobs.epochs, "epochs"),
        wd=LabSettings.wd if knobs.wd is None else float(knobs.wd), l1=float(knobs.l1 or 0.0),
        dropout=parse_dropout(knobs.dropout),
        label_smoothing=0.0 if knobs.label_smoothing is None else float(knobs.label_smoothing),
        augment=",".join(knobs.augment or []) or "none", freeze_backbone=bool(knobs.freeze_backbone),
        early_stop=whole(knobs.early_stop, "early-stopping patience") or None if knobs.early_stop else None,
        max_minutes=float(knobs.max_minutes) if knobs.max_minutes else None, tta=LAB_TTA, log_every=5)


def launch_lab(ctx: AppContext, jobs: JobManager, store: CaptureStore, name: str, base: str | None, arch: str,
               dataset: str, upload: str | None, knobs: LabSettings, owner: str | None = None) -> str:
    """Start a lab job; returns its id. ``owner``: the browser key the job and its model belong to. Raises UserError
    (ConfigError, DataError, CheckpointError, JobError) with the message to show; an upload the job refuses is not
    kept."""
    kept_before = set(_kept_uploads(ctx))
    try:
        data = resolve_dataset(ctx, store, dataset, upload)
        cfg = lab_config(base, arch, data, knobs)
        default_name = (Path(base).name + "-tuned") if base else f"{arch}-scratch"
        return jobs.start([cfg], (name or "").strip() or default_name, kind="train", snapshot_data=dataset == CAPTURED,
                          owner=owner)
    except BaseException:
        for new in set(_kept_uploads(ctx)) - kept_before:
            new.unlink(missing_ok=True)
        raise


def _kept_uploads(ctx: AppContext) -> list[Path]:
    folder = Path(ctx.runs_dir) / ".uploads"
    return list(folder.iterdir()) if folder.is_dir() else []


def check_choice(ctx: AppContext, dataset: str | None, base: str | None) -> None:
    """A raw API call may send any text where the page offers menus: refuse a dataset or a model to start from that
    the menus do not list (it would train on, and so read, any folder of the server). Raises DataError."""
    if dataset not in {value for _, value in dataset_choices(ctx, None)}:
        raise DataError("choose a dataset from the menu (or upload one)")
    if base and base not in {path for _, path in ctx.store.choices()}:
        raise DataError("choose the model to start from in the menu")


# ---------------------------------------------------------------------------------------------------------------
# Showing progress


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


def status_markdown(status: JobStatus) -> str:
    """One or two lines on the current job for people: what, where it is, how long."""
    if status.state == "idle":
        return "No training job yet. Teach new classes above, or start a fine-tuning run below."
    what = f"**{status.name}** ({'teaching new classes' if status.kind == 'teach' else 'training'})"
    phase = f"phase {status.phase}/{status.phases} · " if status.phases > 1 and status.phase else ""
    if status.state == "starting":
        return f"⏳ {what}: starting and loading the data… {_clock(status.elapsed)} elapsed"
    if status.state in ("running", "cancelling"):
        verb = "Cancelling" if status.state == "cancelling" else "Training"
        where = f"epoch {status.epoch}/{status.epochs} · step {status.step}/{status.steps_per_epoch}"
        return (f"⏳ {verb} {what}: {phase}{where} · {_clock(status.elapsed)} elapsed · "
                f"about {_clock(status.remaining)} remaining")
    if status.state == "done":
        acc = f"validation accuracy {status.val_acc:.1%}" if status.val_acc is not None else "finished"
        return (f"✅ {what} finished in {_clock(status.elapsed)}: {acc}. Saved as `{Path(status.output_dir).name}`; "
                "it is in the Model menu at the top.")
    if status.state == "cancelled":
        return f"⏹ {what} was cancelled after {_clock(status.elapsed)}; nothing was saved."
    return f"❌ {what} failed: {status.error}"


def curve_frames(status: JobStatus) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Long-format frames (x = epochs, value, series) for the loss, accuracy and weight plots: the running training
    figures step by step, training and validation per epoch, the mean |weight| per epoch, and a fine-tune's starting
    network at epoch 0 (validation, before the first step). Later phases continue the x axis."""
    offsets, total = {}, 0
    for phase in sorted({row["phase"] for row in status.history} | {p["phase"] for p in status.curve}
                        | {b["phase"] for b in status.baselines}):
        offsets[phase] = total
        total += max((row["epoch"] for row in status.history if row["phase"] == phase), default=0)
    loss, acc, weights = [], [], []
    for b in status.baselines:
        x = offsets[b["phase"]]
        loss.append((x, b["val_loss"], "validation"))
        acc.append((x, b["val_acc"], "validation"))
        if b.get("mean_abs_weight") is not None:
            weights.append((x, b["mean_abs_weight"], "mean |weight|"))
    for p in status.curve:
        x = offsets[p["phase"]] + p["x"]
        loss.append((x, p["loss"], "train (running)"))
        acc.append((x, p["acc"], "train (running)"))
    for row in status.history:
        x = offsets[row["phase"]] + row["epoch"]
        loss += [(x, row["train_loss"], "train"), (x, row["val_loss"], "validation")]
        acc += [(x, row["train_acc"], "train"), (x, row["val_acc"], "validation")]
        if row.get("mean_abs_weight") is not None:
            weights.append((x, row["mean_abs_weight"], "mean |weight|"))
    # Explicit dtypes: an empty frame would otherwise be "object", and the plot would keep categorical axes.
    dtypes = {"epoch": "float64", "value": "float64", "series": "str"}

    def frame(rows: list) -> pd.DataFrame:
        return pd.DataFrame(rows, columns=list(dtypes)).astype(dtypes)

    loss, acc, weights = (sorted(rows, key=lambda r: (r[2], r[0])) for rows in (loss, acc, weights))
    return frame(loss), frame(acc), frame(weights)


TICK_OUTPUTS = ("status", "loss", "acc", "weights", "log", "cancel", "teach", "start", "model", "base", "version",
                "choices", "launched", "result", "taught")


def tick(ctx: AppContext, jobs: JobManager, version: int, choices_seen, launched_id: str | None,
         selected: str | None, viewer: str | None = None, taught_selected: str | None = None) -> dict:
    """One timer tick for one browser: an update for each of TICK_OUTPUTS (the job's status line, the loss, accuracy
    and weight plots, the log, the cancel, teach and start buttons, the model and base menus, the version and menu
    choices this browser has seen, the id of the job it launched, the teach result line, the taught-models menu).
    ``viewer``: the browser's owner key (see demo.common.job_owner); its cancel button works only on its own job
    (None, the presenter: on every job). ``taught_selected``: the taught model whose live bars it shows.

    A job this browser launched selects its model when it finishes (a taught one also in the taught-models menu, so
    the camera's bars switch to it). Nothing is sent that has not changed (gr.skip()), so an idle page costs almost
    nothing."""
    status = jobs.status()
    out = dict.fromkeys(TICK_OUTPUTS, gr.skip())
    changed = status.version != version
    if changed or status.busy:  # the elapsed clock moves every second while busy
        out["status"] = hide_paths(status_markdown(status))
        out["result"] = teach.teach_result_markdown(status)
    if changed:
        loss, acc, weights = curve_frames(status)
        # An empty frame would fix the plot's colour legend to nothing; an empty plot is None.
        out["loss"], out["acc"] = (loss, acc) if len(loss) else (None, None)
        out["weights"] = weights if len(weights) else None
        out["log"] = hide_paths("\n".join(status.log))
        out["cancel"] = gr.Button(interactive=status.busy and viewer in (None, status.owner))
        out["teach"] = out["start"] = gr.Button(interactive=not status.busy)
        out["version"] = status.version
    choices = ctx.model_choices()
    finished_here = status.state == "done" and launched_id is not None and launched_id == status.id
    if choices != choices_seen or finished_here:
        paths = [p for _, p in choices]
        value = selected if selected in paths else (paths[0] if paths else None)
        if finished_here and status.output_dir in paths:
            value = status.output_dir  # the model this browser just trained goes straight to the live view
        if choices != choices_seen or value != selected:
            out["model"] = gr.Dropdown(choices=choices, value=value)
        out["base"] = gr.Dropdown(choices=[("from scratch (a new network)", FROM_SCRATCH)] + choices)
        out["choices"] = choices
        made = teach.made_choices(ctx)
        made_paths = [p for _, p in made]
        shown = taught_selected if taught_selected in made_paths else None
        if finished_here and status.kind == "teach" and status.output_dir in made_paths:
            shown = status.output_dir
        out["taught"] = gr.Dropdown(choices=made, value=shown)
    if finished_here or (launched_id is not None and status.id == launched_id
                         and status.state in ("failed", "cancelled")):
        out["launched"] = None
    return out


def delete_taught(ctx: AppContext, model: str | None, viewer: str | None) -> str:
    """Delete a model made in the app (see core.jobs.delete_made_model); returns its name. ``viewer``: the browser's
    owner key, None for the presenter. Raises UserError."""
    if not model:
        raise ConfigError("choose the taught model to delete in the menu first")
    return delete_made_model(ctx.runs_dir, model, viewer)


# ---------------------------------------------------------------------------------------------------------------
# The tab


def build(ctx: AppContext) -> dict:
    """Build the Train tab inside the current gr.Tab (teaching, the lab, the job's progress); returns its
    components."""
    jobs = manager_for(ctx.runs_dir)
    session = gr.State(teach.new_session)  # this browser's key (set on load, see demo.teach): its snapshots, its jobs
    launched = gr.State(None)  # the id of the job this browser launched (its result gets selected here)

    gr.Markdown("Teach the network things it has never seen, or fine-tune it and watch it learn. Training runs in "
                "the background (one job at a time, shared by everyone); the live camera keeps working.")
    with gr.Row():
        status_md = gr.Markdown(hide_paths(status_markdown(jobs.status())), elem_id="train-status")
        cancel = gr.Button("Cancel training", variant="stop", interactive=False, scale=0, min_width=200,
                           elem_id="train-cancel")

    taught = teach.build(ctx, jobs, session, launched)

    base_choices = [("from scratch (a new network)", FROM_SCRATCH)] + ctx.model_choices()
    d = LabSettings()
    with gr.Accordion("2 · Fine-tuning lab", open=False):
        gr.Markdown("Start from a trained model (or from scratch), pick a dataset and the knobs, and watch the "
                    "training and validation curves: when they part ways, the model is memorising (overfitting).")
        with gr.Row():
            base = gr.Dropdown(base_choices, value=ctx.default_model() or FROM_SCRATCH, label="Start from",
                               info="a trained model to fine-tune (of an ensemble, its first network), or a new network",
                               elem_id="lab-base")
            arch = gr.Dropdown(["resnet", "simplecnn"], value="resnet", label="Architecture (from scratch only)",
                               info="resnet: skip connections, trains fast; simplecnn: the plain baseline")
            datasets = dataset_choices(ctx, None)
            dataset = gr.Dropdown(datasets, value=datasets[0][1], label="Dataset", elem_id="lab-dataset",
                                  info="an image-folder archive; a different class list gets a new last layer")
        upload = gr.File(file_types=[".zip", ".gz", ".tgz"], label=f"Upload a dataset (.zip / .tar.gz, at most "
                         f"{ctx.max_upload_mb} MB): train/<class>/<images>", elem_id="lab-upload")
        with gr.Row():
            optimizer = gr.Dropdown(list(OPTIMIZER_LR), value=d.optimizer, label="Optimizer",
                                    info="sgd: momentum, robust; adam / adamw: adapt per weight, forgiving")
            lr = finite_number(gr.Number(d.lr, label="Learning rate", info="step size; too high diverges, too low crawls"))
            schedule = gr.Dropdown(list(SCHEDULES), value=d.schedule, label="Schedule",
                                   info="how the rate changes: one-cycle warms up then decays")
            batch_size = finite_number(gr.Number(d.batch_size, label="Batch size", precision=0, info="images per step"))
        with gr.Row():
            epochs = finite_number(gr.Number(d.epochs, label="Epochs", precision=0, elem_id="lab-epochs",
                                             info="passes over the training images"))
            wd = finite_number(gr.Number(d.wd, label="Weight decay", info="pulls weights toward 0; fights overfitting"))
            l1 = finite_number(gr.Number(d.l1, label="L1 regularisation", elem_id="lab-l1",
                                         info="adds l1 × sum |w| to the loss: pushes weights to exactly 0 (try 1e-5)"))
            dropout = gr.Dropdown(DROPOUT_CHOICES, value=d.dropout, allow_custom_value=True, label="Dropout",
                                  info="share of features switched off while training (0.1–0.5 fights overfitting)")
            smoothing = finite_number(gr.Number(d.label_smoothing, label="Label smoothing",
                                                info="0–0.2: targets a little less certain, less over-confidence"))
        with gr.Row():
            augment = gr.CheckboxGroup(["flip", "translate", "cutout"], value=d.augment, label="Augmentation",
                                       info="random mirror, shift, and blanked squares: more varied images")
            freeze = gr.Checkbox(d.freeze_backbone, label="Freeze the backbone",
                                 info="train only the last layer: fast, keeps the learned features")
            early_stop = finite_number(gr.Number(d.early_stop, label="Early stopping", precision=0,
                                                 info="stop after this many epochs without improvement (0: off)"))
            max_minutes = finite_number(gr.Number(d.max_minutes, label="Time limit (minutes)",
                                                  info="stops cleanly with the best model so far (0: none)"))
        with gr.Row():
            lab_name = gr.Textbox(label="New model's name", placeholder="cifar10-resnet-tuned",
                                  info="saved in the runs folder; never over an existing model")
            start = gr.Button("Start training", variant="primary", elem_id="lab-start")
    # LabSettings' fields, in its order, and the control of each
    knobs = dict(zip([f.name for f in fields(LabSettings)], [optimizer, lr, schedule, batch_size, epochs, wd, dropout,
                                                              smoothing, augment, freeze, early_stop, max_minutes,
                                                              l1],
                     strict=True))

    # -- progress (shared by teaching and the lab)
    with gr.Row():
        loss_plot = gr.LinePlot(x="epoch", y="value", color="series", title="Loss", height=260, elem_id="train-loss",
                                x_title="epoch", y_title="loss")
        acc_plot = gr.LinePlot(x="epoch", y="value", color="series", title="Accuracy", height=260,
                               elem_id="train-acc", x_title="epoch", y_title="accuracy")
        weight_plot = gr.LinePlot(x="epoch", y="value", color="series", title="Weights (what L1 and decay pull down)",
                                  height=260, elem_id="train-weights", x_title="epoch", y_title="mean |weight|")
    log_box = gr.Textbox(label="Log", lines=8, max_lines=14, autoscroll=True, interactive=False, elem_id="train-log")
    timer = gr.Timer(TICK_SECONDS)
    seen_version = gr.State(-1)
    # What this browser's menus list, read when the page loads (as demo.ui refreshes the menu then), so the first
    # tick does not resend unchanged menus.
    seen_choices = gr.State(ctx.model_choices())
    root = gr.context.Context.root_block
    if root is not None:
        root.load(ctx.model_choices, outputs=seen_choices, show_progress="hidden", api_visibility="private")

    # -- callbacks
    for event in taught["names_changed"]:  # the captured classes' new names in the dataset menu
        event.then(lambda key: gr.Dropdown(choices=dataset_choices(ctx, teach.capture_store(ctx, key))),
                   inputs=session, outputs=dataset, show_progress="hidden", api_visibility="private")
    optimizer.change(lambda opt: OPTIMIZER_LR.get(opt, gr.skip()), inputs=optimizer, outputs=lr,
                     api_visibility="private")  # each optimizer's own default rate

    def on_start(key, name, base_model, architecture, dataset_path, uploaded_archive, *values):
        settings = LabSettings(*values)
        try:
            check_choice(ctx, dataset_path, base_model)
            return launch_lab(ctx, jobs, teach.capture_store(ctx, key), name, base_model, architecture, dataset_path,
                              uploaded_archive, settings, owner=key)
        except UserError as err:
            warn(err)
            return gr.skip()

    start.click(on_start, inputs=[session, lab_name, base, arch, dataset, upload, *knobs.values()], outputs=launched,
                api_name="start_training")

    def on_cancel(key, request: gr.Request):
        try:
            jobs.cancel(owner=job_owner(key, request))
        except UserError as err:
            warn(err)

    cancel.click(on_cancel, inputs=session, api_name="cancel_training")

    # -- the timer: progress, and new models into the selectors
    shown = dict(status=status_md, loss=loss_plot, acc=acc_plot, weights=weight_plot, log=log_box, cancel=cancel,
                 teach=taught["teach"], start=start, model=ctx.model, base=base, version=seen_version,
                 choices=seen_choices, launched=launched, result=taught["result"], taught=taught["taught"])
    outputs = [shown[k] for k in TICK_OUTPUTS]

    def on_tick(version, choices_seen, launched_id, selected, key, taught_selected, request: gr.Request):
        updates = tick(ctx, jobs, version, choices_seen, launched_id, selected, job_owner(key, request),
                       taught_selected)
        return [updates[k] for k in TICK_OUTPUTS]

    timer.tick(on_tick, inputs=[seen_version, seen_choices, launched, ctx.model, session, taught["taught"]],
               outputs=outputs, show_progress="hidden", queue=False, api_visibility="private")

    # -- deleting a taught model: unselected at once, then gone from every menu at the next tick. In two steps because
    # a camera frame already on its way still names the deleted model: while it is among the choices, the frame gets a
    # "deleted" line in the bars; once it is not, Gradio would refuse the frame with an error.
    def on_delete_model(key, model, selected, request: gr.Request):
        try:
            name = delete_taught(ctx, model, job_owner(key, request))
        except UserError as err:
            warn(err)
            return [gr.skip()] * 2
        gr.Info(f"{name} was deleted.")
        paths = [p for _, p in ctx.store.choices()]
        return (gr.Dropdown(value=teach.own_newest(ctx, key)),
                gr.Dropdown(value=selected if selected in paths else ctx.default_model()))

    taught["delete_model"].click(on_delete_model, inputs=[session, taught["taught"], ctx.model],
                                 outputs=[taught["taught"], ctx.model], api_visibility="private")
    return {**taught, "status": status_md, "cancel": cancel, "base": base, "dataset": dataset, "upload": upload,
            "start": start, "lab_name": lab_name, "loss_plot": loss_plot, "acc_plot": acc_plot,
            "weight_plot": weight_plot, "log": log_box, "timer": timer, "launched": launched,
            **{("freeze" if k == "freeze_backbone" else k): c for k, c in knobs.items()}}
