"""Teach it my things: name 2 to 5 things, show each to the camera (or upload photos), and a new last layer learns
them on top of the selected model's features, in the background.

Thin callbacks over core.teach (the snapshot store, kept on the server as an image folder, and the teach job). The
job's progress is shown by the Train tab's shared view (demo.lab), which also builds this section inside that tab.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import tempfile
import time
import uuid
from pathlib import Path
from types import SimpleNamespace

import gradio as gr

from core.data import evict_least_recent
from core.errors import ConfigError, DataError, UserError
from core.jobs import JobManager
from core.teach import MAX_CLASSES, MIN_PER_CLASS, CaptureStore, export_name, start_teach
from demo.common import AppContext, job_owner, photo_input, warn

AUTO_CAPTURE_EVERY = 0.4  # seconds between snapshots while "keep capturing" is on (20 in about 8 s)
STREAM_EVERY = 0.2  # seconds between camera frames sent by the browser (only the newest is kept)
ENOUGH_PER_CLASS = 20  # snapshots a class needs to learn well: the counter ticks it off
MAX_CAPTURE_BYTES = 500 * 1024**2  # all sessions' snapshots together (one session holds at most ~15 MB)
EXPORT_KEEP_SECONDS = 600
SESSION_KEY = re.compile(r"[0-9a-f]{32}")


def capture_store(ctx: AppContext, session: str) -> CaptureStore:
    """The snapshots of one browser session (``session``: its key, see new_session), beside the runs. Each visitor
    sees, downloads and deletes only their own; the sessions used longest ago are removed when all of them together
    pass MAX_CAPTURE_BYTES."""
    if not session or not SESSION_KEY.fullmatch(session):
        raise DataError("this page's session has expired; reload the page")
    root = Path(ctx.runs_dir) / ".captures" / session
    if root.is_dir():
        os.utime(root)  # recently used: evicted last
    return CaptureStore(root)


def new_session() -> str:
    """A fresh, unguessable key for one page load (gr.State calls it when a page opens)."""
    return uuid.uuid4().hex


def bound_captures(ctx: AppContext, keep: CaptureStore) -> None:
    evict_least_recent(Path(ctx.runs_dir) / ".captures", MAX_CAPTURE_BYTES, keep=keep.root)


def export_folder() -> Path:
    """A new folder for one snapshot export; exports older than EXPORT_KEEP_SECONDS are removed first (the download
    has long been copied into Gradio's cache by then)."""
    base = Path(tempfile.gettempdir()) / "wtcs-exports"
    base.mkdir(exist_ok=True)
    for old in base.iterdir():
        try:
            if time.time() - old.stat().st_mtime > EXPORT_KEEP_SECONDS:
                shutil.rmtree(old, ignore_errors=True)
        except OSError:
            pass
    return Path(tempfile.mkdtemp(prefix="export-", dir=base))


def launch_teach(jobs: JobManager, store: CaptureStore, base: str | None, name: str, finetune: bool,
                 owner: str | None = None) -> str:
    """Start teaching the captured classes on top of ``base`` (the model selected at the top); returns the job id.
    ``owner``: the session that may cancel it (None: anyone). Raises UserError (ConfigError, DataError, JobError)
    with the message to show."""
    if not base:
        raise ConfigError("choose the model to teach in the Model menu at the top first")
    # core.teach.start_teach knows nothing of owners: it gets the manager's start with the owner filled in
    owned = SimpleNamespace(start=functools.partial(jobs.start, owner=owner))
    return start_teach(owned, store, base, name or "", finetune=bool(finetune))


def counts_markdown(store: CaptureStore) -> str:
    counts = store.counts()
    if not counts:
        return f"No classes yet: name 2 to {MAX_CLASSES} above."
    parts = [f"**{n}**: {c}{' ✓' if c >= ENOUGH_PER_CLASS else ''}" for n, c in counts.items()]
    return " · ".join(parts) + f"  \n(at least {MIN_PER_CLASS} per class; about {ENOUGH_PER_CLASS} each works well)"


def build(ctx: AppContext, jobs: JobManager, session: gr.State, launched: gr.State) -> dict:
    """The "Teach it new classes" section, inside the current layout. ``session`` holds this browser's key (its own
    snapshots, see capture_store); ``launched`` receives the id of the job this browser starts. Returns its
    components, and as "names_set" the event that sets the class names (for a follow-up that lists the new classes
    elsewhere)."""
    with gr.Accordion("1 · Teach it new classes", open=True):
        gr.Markdown(f"Name 2 to {MAX_CLASSES} things, show each to the camera (or upload photos), then press "
                    "**Teach**. A new last layer learns on top of the selected model's features: about half a minute.")
        with gr.Row():
            class_names = gr.Textbox(label="Class names", value="", placeholder="keys, mug",
                                     info=f"2 to {MAX_CLASSES} names separated by commas", elem_id="teach-names",
                                     scale=3)
            set_names = gr.Button("Set classes", scale=1, elem_id="teach-set")
        with gr.Row():
            with gr.Column():
                camera = photo_input(sources=["webcam"], streaming=True, label="Camera", elem_id="teach-camera",
                                     webcam_options=gr.WebcamOptions(mirror=True))
                current = gr.Radio(choices=[], value=None, label="Snapshots go to", elem_id="teach-class")
                with gr.Row():
                    capture = gr.Button("Capture snapshot", variant="primary", elem_id="teach-capture")
                    auto = gr.Checkbox(label="keep capturing", value=False,
                                       info=f"a snapshot every {AUTO_CAPTURE_EVERY} s while the camera runs")
            with gr.Column():
                counts = gr.Markdown(f"No classes yet: name 2 to {MAX_CLASSES} above.", elem_id="teach-counts")
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
    latest = gr.State(None)  # the newest camera frame of this browser (its bytes, as received)
    last_auto = gr.State(0.0)

    def on_set_names(key, text):
        try:
            store = capture_store(ctx, key)
            names = store.set_classes(text or "")
        except UserError as err:
            warn(err)
            return gr.skip(), gr.skip()
        return gr.Radio(choices=names, value=names[0]), counts_markdown(store)

    names_set = gr.on([set_names.click, class_names.submit], on_set_names, inputs=[session, class_names],
                      outputs=[current, counts], api_name="set_class_names")

    def on_frame(key, frame, keep, cls, last):
        """Remember the newest frame; while "keep capturing" is on, store one every AUTO_CAPTURE_EVERY s."""
        if frame is None or not keep or not cls or time.time() - last < AUTO_CAPTURE_EVERY:
            return frame, gr.skip(), last
        try:
            store = capture_store(ctx, key)
            store.add(cls, frame)
        except UserError:
            return frame, gr.skip(), last  # a full class or an unusable frame: the counter already says so
        return frame, counts_markdown(store), time.time()

    camera.stream(on_frame, inputs=[session, camera, auto, current, last_auto], outputs=[latest, counts, last_auto],
                  stream_every=STREAM_EVERY, time_limit=600, concurrency_limit=2, concurrency_id="teach-camera",
                  show_progress="hidden", api_visibility="private")

    def on_capture(key, frame, cls):
        try:
            if frame is None:
                raise DataError("start the camera first (click it and allow the webcam), then capture")
            if not cls:
                raise ConfigError("set the class names first, then choose which one you are showing")
            store = capture_store(ctx, key)
            store.add(cls, frame)
            bound_captures(ctx, store)
        except UserError as err:
            warn(err)
            return gr.skip()
        return counts_markdown(store)

    # "multiple": every click is a snapshot, even one made while the previous one is still being stored (Gradio's
    # default drops clicks while an event is pending, so a quick visitor lost snapshots on a busy machine).
    capture.click(on_capture, inputs=[session, latest, current], outputs=counts, show_progress="hidden", trigger_mode="multiple",
                  api_visibility="private")

    def on_photos(key, files, cls):
        if not files:
            return gr.skip(), gr.skip()
        if not cls:
            warn(ConfigError("set the class names first, then choose the class these photos show"))
            return gr.skip(), None
        try:
            store = capture_store(ctx, key)
        except UserError as err:
            warn(err)
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
        bound_captures(ctx, store)
        return counts_markdown(store), None

    photos.upload(on_photos, inputs=[session, photos, current], outputs=[counts, photos], api_name="add_photos")

    def on_export(key):
        try:
            path = capture_store(ctx, key).export_zip(export_folder() / export_name())
        except UserError as err:
            warn(err)
            return gr.File(visible=False)
        return gr.File(value=str(path), visible=True)

    export.click(on_export, inputs=session, outputs=export_file, api_name="export_snapshots")

    def on_delete(key):
        try:
            store = capture_store(ctx, key)
        except UserError as err:
            warn(err)
            return gr.skip(), gr.skip()
        store.clear()
        gr.Info("All snapshots were deleted (the class names are kept).")
        return counts_markdown(store), gr.File(value=None, visible=False)

    delete.click(on_delete, inputs=session, outputs=[counts, export_file], api_name="delete_snapshots")

    def on_teach(key, model, name, fine, request: gr.Request):
        try:
            return launch_teach(jobs, capture_store(ctx, key), model, name, fine, owner=job_owner(key, request))
        except UserError as err:
            warn(err)
            return gr.skip()

    teach.click(on_teach, inputs=[session, ctx.model, teach_name, finetune], outputs=launched, api_name="teach")
    return {"class_names": class_names, "set_names": set_names, "names_set": names_set, "camera": camera,
            "class": current, "capture": capture, "counts": counts, "photos": photos, "teach": teach,
            "finetune": finetune, "export": export, "delete": delete, "export_file": export_file}
