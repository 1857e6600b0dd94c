"""The Train tab: teach the network new classes from webcam snapshots, and a lab for background fine-tuning.

Thin callbacks over core.jobs (one background training process, its state kept on the server) and core.teach
(the snapshot store). A gr.Timer polls the job about once a second, so a reload or a second browser shows the
same job; a finished model is added to every model selector, and the browser that launched it selects it.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import gradio as gr
import pandas as pd

from core.archive import is_archive
from core.data import file_sha256
from core.errors import ConfigError, DataError, UserError
from core.jobs import JobManager, JobStatus, manager_for
from core.teach import MAX_CLASSES, MIN_PER_CLASS, CaptureStore, start_teach
from core.train import OPTIMIZER_LR, SCHEDULES, TrainConfig

# ---------------------------------------------------------------------------------------------------------------
# Setup: the tab's defaults (a fine-tune that fits an exhibition's patience) and its wording

TICK_SECONDS = 1.0
AUTO_CAPTURE_EVERY = 0.4  # seconds between snapshots while "keep capturing" is on (20 in about 8 s)
STREAM_EVERY = 0.2
FROM_SCRATCH = ""  # the "Start from" value that means a new network
CAPTURED = "@captured"  # dataset choice: the snapshots of the teach section
UPLOADED = "@uploaded"  # dataset choice: the archive uploaded below the menu
KEEP_DROPOUT = "the model's own"
DROPOUT_CHOICES = [KEEP_DROPOUT, "0", "0.1", "0.2", "0.3", "0.5"]
_D = TrainConfig()
LAB_DEFAULTS = dict(optimizer=_D.optimizer, lr=OPTIMIZER_LR[_D.optimizer], schedule=_D.schedule, batch_size=_D.batch_size,
                    epochs=3, wd=_D.wd, dropout=KEEP_DROPOUT, label_smoothing=_D.label_smoothing, augment=["flip", "translate"],
                    freeze_backbone=False, early_stop=0, max_minutes=10.0, val_fraction=_D.val_fraction)
LAB_TTA = 0  # the job's final evaluation without test-time augmentation: quicker, and what the live view does


def _store_for(ctx) -> CaptureStore:
    return CaptureStore(Path(ctx.runs_dir) / ".captures")


# ---------------------------------------------------------------------------------------------------------------
# Datasets


def dataset_choices(ctx, store: CaptureStore) -> list[tuple[str, str]]:
    """(label, value) for the dataset menu: the archives and folders in ctx.data_dir, the captured classes,
    and an uploaded archive."""
    data_dir = Path(ctx.data_dir)
    found = sorted(p for p in data_dir.iterdir() if (p.is_dir() and not p.name.startswith(".")) or is_archive(p)) \
        if data_dir.is_dir() else []
    captured = f"the captured classes ({', '.join(store.classes()) or 'none named yet'})"
    return [(p.name, str(p)) for p in found] + [(captured, CAPTURED), ("an uploaded .zip / .tar.gz (below)", UPLOADED)]


def keep_upload(ctx, upload: str | None) -> str:
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
    return str(kept)


def resolve_dataset(ctx, store: CaptureStore, choice: str | None, upload: str | None) -> str:
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


def lab_config(base: str | None, arch: str, data: str, optimizer: str, lr: float | None, schedule: str,
               batch_size: float, epochs: float, wd: float | None, dropout: str | float | None,
               label_smoothing: float | None,
               augment: list[str] | None, freeze_backbone: bool, early_stop: float | None,
               max_minutes: float | None) -> TrainConfig:
    """The TrainConfig for the lab's controls (blank numbers take the defaults, 0 turns early stopping and the
    time limit off). Raises ConfigError for values that are not whole numbers where they must be."""

    def whole(value, label: str) -> int:
        if value is None or float(value) != int(value):
            raise ConfigError(f"{label} must be a whole number, got {value}")
        return int(value)

    if freeze_backbone and not base:
        raise ConfigError("freezing the backbone needs a trained model to start from, not 'from scratch'")
    return TrainConfig(
        data=data, arch=arch or "resnet", init_from=base or None, optimizer=optimizer, lr=lr, schedule=schedule,
        batch_size=whole(batch_size, "batch size"), epochs=whole(epochs, "epochs"),
        wd=LAB_DEFAULTS["wd"] if wd is None else float(wd), dropout=parse_dropout(dropout),
        label_smoothing=0.0 if label_smoothing is None else float(label_smoothing),
        augment=",".join(augment or []) or "none", freeze_backbone=bool(freeze_backbone),
        early_stop=whole(early_stop, "early-stopping patience") or None if early_stop else None,
        max_minutes=float(max_minutes) if max_minutes else None, val_fraction=LAB_DEFAULTS["val_fraction"],
        tta=LAB_TTA, log_every=5)


def launch_lab(ctx, jobs: JobManager, store: CaptureStore, name: str, base: str | None, arch: str, dataset: str,
               upload: str | None, *hyper) -> str:
    """Start a lab job; returns its id. ``hyper`` are lab_config's arguments from ``optimizer`` on.
    Raises UserError (ConfigError, DataError, CheckpointError, JobError) with the message to show."""
    data = resolve_dataset(ctx, store, dataset, upload)
    cfg = lab_config(base, arch, data, *hyper)
    default_name = (Path(base).name + "-tuned") if base else f"{arch}-scratch"
    return jobs.start([cfg], (name or "").strip() or default_name, kind="train", snapshot_data=dataset == CAPTURED)


def launch_teach(jobs: JobManager, store: CaptureStore, base: str | None, name: str, finetune: bool) -> str:
    """Start teaching the captured classes on top of ``base`` (the model selected at the top)."""
    if not base:
        raise ConfigError("choose the model to teach in the Model menu at the top first")
    return start_teach(jobs, store, base, name or "", finetune=bool(finetune))


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


def curve_frames(status: JobStatus) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Long-format frames (x = epochs, value, series) for the loss and accuracy plots: the running training
    figures step by step, and training and validation per epoch. Later phases continue the x axis."""
    offsets, total = {}, 0
    for phase in sorted({row["phase"] for row in status.history} | {p["phase"] for p in status.curve}):
        offsets[phase] = total
        total += max((row["epoch"] for row in status.history if row["phase"] == phase), default=0)
    loss, acc = [], []
    for p in status.curve:
        x = offsets[p["phase"]] + p["x"]
        loss.append((x, p["loss"], "train (running)"))
        acc.append((x, p["acc"], "train (running)"))
    for row in status.history:
        x = offsets[row["phase"]] + row["epoch"]
        loss += [(x, row["train_loss"], "train"), (x, row["val_loss"], "validation")]
        acc += [(x, row["train_acc"], "train"), (x, row["val_acc"], "validation")]
    # Explicit dtypes: an empty frame would otherwise be "object", and the plot would keep categorical axes.
    dtypes = {"epoch": "float64", "value": "float64", "series": "str"}

    def frame(rows: list) -> pd.DataFrame:
        return pd.DataFrame(rows, columns=list(dtypes)).astype(dtypes)

    return frame(loss), frame(acc)


def counts_markdown(store: CaptureStore) -> str:
    counts = store.counts()
    if not counts:
        return f"No classes yet: name 2 to {MAX_CLASSES} above."
    parts = [f"**{n}**: {c}{' ✓' if c >= 20 else ''}" for n, c in counts.items()]
    return " · ".join(parts) + f"  \n(at least {MIN_PER_CLASS} per class; about 20 each works well)"


# ---------------------------------------------------------------------------------------------------------------
# The tab


def build(ctx) -> dict:
    """Build the Train tab inside the current gr.Tab; returns its components."""
    from demo.ui import user_message

    jobs = manager_for(ctx.runs_dir)
    store = _store_for(ctx)

    def warn(err: Exception) -> None:
        gr.Warning(user_message(err))

    gr.Markdown("Teach the network things it has never seen, or fine-tune it and watch it learn. Training runs in "
                "the background (one job at a time, shared by everyone); the live camera keeps working.")
    with gr.Row():
        status_md = gr.Markdown(status_markdown(jobs.status()), elem_id="train-status")
        cancel = gr.Button("Cancel training", variant="stop", interactive=jobs.status().busy, scale=0, min_width=200,
                           elem_id="train-cancel")

    # -- teach new classes
    with gr.Accordion("1 · Teach it new classes", open=True):
        gr.Markdown(f"Name 2 to {MAX_CLASSES} things, show each to the camera (or upload photos), then press "
                    "**Teach**. A new last layer learns on top of the selected model's features: about half a minute.")
        with gr.Row():
            class_names = gr.Textbox(label="Class names", value=", ".join(store.classes()), placeholder="keys, mug",
                                     info=f"2 to {MAX_CLASSES} names separated by commas", elem_id="teach-names",
                                     scale=3)
            set_names = gr.Button("Set classes", scale=1, elem_id="teach-set")
        with gr.Row():
            with gr.Column():
                camera = gr.Image(sources=["webcam"], streaming=True, type="numpy", label="Camera",
                                  elem_id="teach-camera", webcam_options=gr.WebcamOptions(mirror=True))
                current = gr.Radio(choices=store.classes(), value=(store.classes() or [None])[0],
                                   label="Snapshots go to", elem_id="teach-class")
                with gr.Row():
                    capture = gr.Button("Capture snapshot", variant="primary", elem_id="teach-capture")
                    auto = gr.Checkbox(label="keep capturing", value=False,
                                       info=f"a snapshot every {AUTO_CAPTURE_EVERY} s while the camera runs")
            with gr.Column():
                counts = gr.Markdown(counts_markdown(store), elem_id="teach-counts")
                photos = gr.File(file_count="multiple", file_types=["image"], label="…or upload photos of this class",
                                 elem_id="teach-upload")
                with gr.Row():
                    finetune = gr.Checkbox(label="then fine-tune every layer", value=False,
                                           info="a few more epochs; better on real objects, slower")
                    teach_name = gr.Textbox(label="New model's name", placeholder="taught-keys-mug",
                                            info="blank: named after the classes")
                teach = gr.Button("Teach", variant="primary", elem_id="teach-start")
                with gr.Row():
                    export = gr.Button("Download snapshots (.zip)", size="sm", elem_id="teach-export")
                    delete = gr.Button("Delete all snapshots", size="sm", variant="stop", elem_id="teach-delete")
                export_file = gr.File(label="Snapshots as an image-folder dataset", visible=False,
                                      elem_id="teach-zip")
    latest = gr.State(None)  # the newest camera frame of this browser, (H, W, 3) uint8
    last_auto = gr.State(0.0)

    # -- the lab
    base_choices = [("from scratch (a new network)", FROM_SCRATCH)] + ctx.store.choices()
    with gr.Accordion("2 · Fine-tuning lab", open=False):
        gr.Markdown("Start from a trained model (or from scratch), pick a dataset and the knobs, and watch the "
                    "training and validation curves: when they part ways, the model is memorising (overfitting).")
        with gr.Row():
            base = gr.Dropdown(base_choices, value=ctx.default_model() or FROM_SCRATCH, label="Start from",
                               info="a trained model to fine-tune (of an ensemble, its first network), or a new network",
                               elem_id="lab-base")
            arch = gr.Dropdown(["resnet", "simplecnn"], value="resnet", label="Architecture (from scratch only)",
                               info="resnet: skip connections, trains fast; simplecnn: the plain baseline")
            datasets = dataset_choices(ctx, store)
            dataset = gr.Dropdown(datasets, value=datasets[0][1], label="Dataset", elem_id="lab-dataset",
                                  info="an image-folder archive; a different class list gets a new last layer")
        upload = gr.File(file_types=[".zip", ".gz", ".tgz"], label=f"Upload a dataset (.zip / .tar.gz, at most "
                         f"{ctx.max_upload_mb} MB): train/<class>/<images>", elem_id="lab-upload")
        d = LAB_DEFAULTS
        with gr.Row():
            optimizer = gr.Dropdown(list(OPTIMIZER_LR), value=d["optimizer"], label="Optimizer",
                                    info="sgd: momentum, robust; adam / adamw: adapt per weight, forgiving")
            lr = gr.Number(d["lr"], label="Learning rate", info="step size; too high diverges, too low crawls")
            schedule = gr.Dropdown(list(SCHEDULES), value=d["schedule"], label="Schedule",
                                   info="how the rate changes: one-cycle warms up then decays")
            batch_size = gr.Number(d["batch_size"], label="Batch size", precision=0, info="images per step")
        with gr.Row():
            epochs = gr.Number(d["epochs"], label="Epochs", precision=0, info="passes over the training images")
            wd = gr.Number(d["wd"], label="Weight decay", info="pulls weights toward 0; fights overfitting")
            dropout = gr.Dropdown(DROPOUT_CHOICES, value=KEEP_DROPOUT, allow_custom_value=True, label="Dropout",
                                  info="share of features switched off while training (0.1–0.5 fights overfitting)")
            smoothing = gr.Number(d["label_smoothing"], label="Label smoothing",
                                  info="0–0.2: targets a little less certain, less over-confidence")
        with gr.Row():
            augment = gr.CheckboxGroup(["flip", "translate", "cutout"], value=d["augment"], label="Augmentation",
                                       info="random mirror, shift, and blanked squares: more varied images")
            freeze = gr.Checkbox(d["freeze_backbone"], label="Freeze the backbone",
                                 info="train only the last layer: fast, keeps the learned features")
            early_stop = gr.Number(d["early_stop"], label="Early stopping", precision=0,
                                   info="stop after this many epochs without improvement (0: off)")
            max_minutes = gr.Number(d["max_minutes"], label="Time limit (minutes)",
                                    info="stops cleanly with the best model so far (0: none)")
        with gr.Row():
            lab_name = gr.Textbox(label="New model's name", placeholder="cifar10-resnet-tuned",
                                  info="saved in the runs folder; never over an existing model")
            start = gr.Button("Start training", variant="primary", elem_id="lab-start")

    # -- progress (shared by both)
    with gr.Row():
        loss_plot = gr.LinePlot(x="epoch", y="value", color="series", title="Loss", height=260, elem_id="train-loss",
                                x_title="epoch", y_title="loss")
        acc_plot = gr.LinePlot(x="epoch", y="value", color="series", title="Accuracy", height=260,
                               elem_id="train-acc", x_title="epoch", y_title="accuracy")
    log_box = gr.Textbox(label="Log", lines=8, max_lines=14, autoscroll=True, interactive=False, elem_id="train-log")
    timer = gr.Timer(TICK_SECONDS)
    seen_version = gr.State(-1)
    # What this browser's menus list; read when the page loads (as demo.ui refreshes the menu then), so the
    # first tick does not resend unchanged menus.
    seen_choices = gr.State(lambda: ctx.store.choices())
    launched = gr.State(None)  # the id of the job this browser launched (its result gets selected here)

    # -- callbacks: teaching

    def on_set_names(text):
        try:
            names = store.set_classes(text or "")
        except UserError as err:
            warn(err)
            return gr.skip(), gr.skip(), gr.skip()
        return gr.Radio(choices=names, value=names[0]), counts_markdown(store), gr.Dropdown(
            choices=dataset_choices(ctx, store))

    set_names.click(on_set_names, inputs=class_names, outputs=[current, counts, dataset])
    class_names.submit(on_set_names, inputs=class_names, outputs=[current, counts, dataset])

    def on_frame(frame, keep, cls, last):
        """Remember the newest frame; while "keep capturing" is on, store one every AUTO_CAPTURE_EVERY s."""
        import time

        if frame is None or not keep or not cls or time.time() - last < AUTO_CAPTURE_EVERY:
            return frame, gr.skip(), last
        try:
            store.add(cls, frame)
        except UserError:
            return frame, gr.skip(), last  # a full class: the counter already says so
        return frame, counts_markdown(store), time.time()

    camera.stream(on_frame, inputs=[camera, auto, current, last_auto], outputs=[latest, counts, last_auto],
                  stream_every=STREAM_EVERY, time_limit=600, concurrency_limit=2, concurrency_id="teach-camera",
                  show_progress="hidden")

    def on_capture(frame, cls):
        try:
            if frame is None:
                raise DataError("start the camera first (click it and allow the webcam), then capture")
            if not cls:
                raise ConfigError("set the class names first, then choose which one you are showing")
            store.add(cls, frame)
        except UserError as err:
            warn(err)
            return gr.skip()
        return counts_markdown(store)

    # "multiple": every click is a snapshot, even one made while the previous one is still being stored (Gradio's
    # default drops clicks while an event is pending, so a quick visitor lost snapshots on a busy machine).
    capture.click(on_capture, inputs=[latest, current], outputs=counts, show_progress="hidden", trigger_mode="multiple")

    def on_photos(files, cls):
        if not files:
            return gr.skip(), gr.skip()
        if not cls:
            warn(ConfigError("set the class names first, then choose the class these photos show"))
            return gr.skip(), None
        bad = 0
        for f in files:
            try:
                store.add(cls, f)
            except UserError as err:
                if "already has" in str(err):
                    warn(err)
                    break
                bad += 1
        if bad:
            gr.Warning(f"{bad} of {len(files)} files were not usable images and were skipped")
        return counts_markdown(store), None

    photos.upload(on_photos, inputs=[photos, current], outputs=[counts, photos])

    def on_export():
        try:
            from core.teach import export_name

            path = store.export_zip(Path(tempfile.mkdtemp(prefix="wtcs-export-")) / export_name())
        except UserError as err:
            warn(err)
            return gr.File(visible=False)
        return gr.File(value=str(path), visible=True)

    export.click(on_export, outputs=export_file)

    def on_delete():
        store.clear()
        gr.Info("All snapshots were deleted (the class names are kept).")
        return counts_markdown(store), gr.File(value=None, visible=False)

    delete.click(on_delete, outputs=[counts, export_file])

    def on_teach(model, name, fine):
        try:
            job = launch_teach(jobs, store, model, name, fine)
        except UserError as err:
            warn(err)
            return gr.skip()
        return job

    teach.click(on_teach, inputs=[ctx.model, teach_name, finetune], outputs=launched)

    # -- callbacks: the lab

    optimizer.change(lambda opt: OPTIMIZER_LR.get(opt, gr.skip()), inputs=optimizer, outputs=lr)
    hyper = [optimizer, lr, schedule, batch_size, epochs, wd, dropout, smoothing, augment, freeze, early_stop,
             max_minutes]

    def on_start(name, base_value, arch_value, dataset_value, upload_value, *values):
        try:
            job = launch_lab(ctx, jobs, store, name, base_value, arch_value, dataset_value, upload_value, *values)
        except UserError as err:
            warn(err)
            return gr.skip()
        return job

    start.click(on_start, inputs=[lab_name, base, arch, dataset, upload, *hyper], outputs=launched)

    def on_cancel():
        try:
            jobs.cancel()
        except UserError as err:
            warn(err)

    cancel.click(on_cancel)

    # -- the timer: progress, and new models into the selectors

    outputs = [status_md, loss_plot, acc_plot, log_box, cancel, teach, start, ctx.model, base, seen_version,
               seen_choices, launched]
    if ctx.tabs is not None:
        outputs.append(ctx.tabs)

    def on_tick(version, choices_seen, launched_id, selected):
        updates = tick(ctx, jobs, version, choices_seen, launched_id, selected)
        return updates if ctx.tabs is not None else updates[:-1]

    timer.tick(on_tick, inputs=[seen_version, seen_choices, launched, ctx.model], outputs=outputs,
               show_progress="hidden", queue=False)
    return {"status": status_md, "cancel": cancel, "class_names": class_names, "set_names": set_names,
            "camera": camera, "class": current, "capture": capture, "counts": counts, "photos": photos,
            "teach": teach, "finetune": finetune, "export": export, "delete": delete, "export_file": export_file,
            "base": base, "dataset": dataset, "upload": upload, "start": start, "lab_name": lab_name,
            "loss_plot": loss_plot, "acc_plot": acc_plot, "log": log_box, "timer": timer, "launched": launched,
            **dict(zip(["optimizer", "lr", "schedule", "batch_size", "epochs", "wd", "dropout", "label_smoothing",
                        "augment", "freeze", "early_stop", "max_minutes"], hyper, strict=True))}


def tick(ctx, jobs: JobManager, version: int, choices_seen, launched_id: str | None, selected: str | None) -> list:
    """One timer tick for one browser: the updates for [status, loss plot, accuracy plot, log, cancel button,
    teach button, start button, model menu, base menu, seen version, seen choices, launched id, tabs].

    Nothing is sent that has not changed (gr.skip()), so an idle page costs almost nothing."""
    status = jobs.status()
    skip = gr.skip()
    changed = status.version != version
    out = [skip] * 13
    if changed or status.busy:  # the elapsed clock moves every second while busy
        out[0] = status_markdown(status)
    if changed:
        loss, acc = curve_frames(status)
        # An empty frame would fix the plot's colour legend to nothing; an empty plot is None.
        out[1], out[2] = (loss, acc) if len(loss) else (None, None)
        out[3] = "\n".join(status.log)
        out[4] = gr.Button(interactive=status.busy)
        out[5] = out[6] = gr.Button(interactive=not status.busy)
        out[9] = status.version
    choices = ctx.store.choices()
    finished_here = status.state == "done" and launched_id is not None and launched_id == status.id
    if choices != choices_seen or finished_here:
        paths = [p for _, p in choices]
        value = selected if selected in paths else (paths[0] if paths else None)
        if finished_here and status.output_dir in paths:
            value = status.output_dir  # the model this browser just trained goes straight to the live view
        if choices != choices_seen or value != selected:
            out[7] = gr.Dropdown(choices=choices, value=value)
        out[8] = gr.Dropdown(choices=[("from scratch (a new network)", FROM_SCRATCH)] + choices)
        out[10] = choices
    if finished_here:
        out[11] = None
        if status.kind == "teach":
            out[12] = gr.Tabs(selected="live")
    elif launched_id is not None and status.id == launched_id and status.state in ("failed", "cancelled"):
        out[11] = None
    return out

