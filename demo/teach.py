"""Teach it my things, on one screen: a card per class (its name, a capture button, "keep capturing", an upload
button and its snapshots as thumbnails), one shared camera, and under it the live confidence bars of the model this
browser taught. "Teach" and its result sit below the cards, and the camera keeps running while the job trains and
after: the bars switch to the new model when it is ready.

Thin callbacks over core.teach (the snapshot store: an image folder on the server per browser) and core.jobs (the
teach job, and deleting a model made in the app). Each browser keeps a random key in its localStorage
(gr.BrowserState), so its classes and snapshots survive a reload and another browser sees none of them. The job's
progress is also shown by the Train tab's shared view (demo.lab), which builds this section inside that tab and wires
the timer that brings the finished model here.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import tempfile
import threading
import time
import uuid
from pathlib import Path
from types import SimpleNamespace

import gradio as gr
import numpy as np

from core.checkpoint import checkpoint_label
from core.data import evict_least_recent
from core.errors import ConfigError, DataError, UserError
from core.explain import unsure_threshold
from core.jobs import JobManager, JobStatus, made_models, model_origin
from core.predict import preprocess, probabilities
from core.teach import BACKGROUND_CLASS, MAX_CLASSES, MIN_CLASSES, MIN_PER_CLASS, CaptureStore, export_name, start_teach
from demo.common import AppContext, hide_paths, photo_input, user_message, warn
from demo.live import smooth

AUTO_CAPTURE_EVERY = 0.4  # seconds between snapshots while "keep capturing" is on (20 in about 8 s)
STREAM_EVERY = 0.2  # seconds between camera frames sent by the browser (only the newest is kept)
ENOUGH_PER_CLASS = 20  # snapshots a class needs to learn well: the counter ticks it off
THUMBNAILS = 12  # a class card shows its newest snapshots, this many
THUMBNAIL_SIZE = 96  # pixels a side
MAX_CAPTURE_BYTES = 500 * 1024**2  # all browsers' snapshots together (one browser holds at most ~15 MB)
EXPORT_KEEP_SECONDS = 600
SESSION_KEY = re.compile(r"[0-9a-f]{32}")
# The browser's key lives in its localStorage under this name. Gradio encrypts the value with a secret; a fixed one
# keeps the key readable after the app restarts (it is no password: the key only names this browser's own snapshots).
BROWSER_KEY_STORAGE = "wtcs-browser-key"
BROWSER_KEY_SECRET = "wtcs-browser-key"
NO_MODEL_YET = "Teach a model and its live answers appear here."

_stores: dict[Path, CaptureStore] = {}  # one per browser, so its lock covers every request of that browser
_stores_lock = threading.Lock()


# ---------------------------------------------------------------------------------------------------------------
# The snapshot store of one browser


def capture_store(ctx: AppContext, session: str) -> CaptureStore:
    """The snapshots of one browser (``session``: its key, see browser_key), beside the runs. Each visitor sees,
    downloads and deletes only their own; the browsers used longest ago are removed when all of them together pass
    MAX_CAPTURE_BYTES."""
    if not session or not SESSION_KEY.fullmatch(session):
        raise DataError("this page's session has expired; reload the page")
    root = Path(ctx.runs_dir) / ".captures" / session
    if root.is_dir():
        os.utime(root)  # recently used: evicted last
    with _stores_lock:
        return _stores.setdefault(root, CaptureStore(root))


def new_session() -> str:
    """A fresh, unguessable key (gr.State calls it when a page opens; the page's load event then replaces it by the
    browser's own key, see browser_key). API clients keep this one: their own snapshots, per connection."""
    return uuid.uuid4().hex


def browser_key(stored: str | None) -> str:
    """The key kept in the browser's localStorage, or a new one for a browser that has none (or a damaged one)."""
    return stored if isinstance(stored, str) and SESSION_KEY.fullmatch(stored) else new_session()


def bound_captures(ctx: AppContext, keep: CaptureStore) -> None:
    evict_least_recent(Path(ctx.runs_dir) / ".captures", MAX_CAPTURE_BYTES, keep=keep.root)


def default_name(slot: int) -> str:
    return f"Class {slot + 1}"


def shown_classes(store: CaptureStore) -> int:
    """How many class cards the page shows: the named classes, and at least MIN_CLASSES."""
    return max(MIN_CLASSES, len(store.classes()))


def synced_store(ctx: AppContext, key: str, names: list[str | None]) -> CaptureStore:
    """This browser's store with its classes named as the cards say (``names``: every card's name box, blank ones
    taking their default name). A card keeps its snapshots when its name changes. Raises UserError (a bad or repeated
    name, an expired page)."""
    store = capture_store(ctx, key)
    wanted = [(n or "").strip() or default_name(i) for i, n in enumerate(names[:shown_classes(store)])]
    if wanted != store.classes():
        store.rename_classes(wanted)
    return store


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
    ``owner``: the browser key the job and its model belong to (None: nobody's but the presenter's). Raises UserError
    (ConfigError, DataError, JobError) with the message to show."""
    if not base:
        raise ConfigError("choose the model to teach in the Model menu at the top first")
    # core.teach.start_teach knows nothing of owners: it gets the manager's start with the owner filled in
    owned = SimpleNamespace(start=functools.partial(jobs.start, owner=owner))
    return start_teach(owned, store, base, name or "", finetune=bool(finetune))


# ---------------------------------------------------------------------------------------------------------------
# What the cards show


def count_line(store: CaptureStore, name: str) -> str:
    count = len(store.files(name))
    tick = " ✓" if count >= ENOUGH_PER_CLASS else ""
    need = f" (at least {MIN_PER_CLASS})" if count < MIN_PER_CLASS else ""
    return f"**{count}** snapshot{'s' * (count != 1)}{tick}{need}"


def thumbnails(store: CaptureStore, name: str) -> list[np.ndarray]:
    """The newest THUMBNAILS snapshots of class ``name``, newest first, as small (s, s, 3) uint8 arrays."""
    from PIL import Image

    out = []
    for f in reversed(store.files(name)[-THUMBNAILS:]):
        try:
            with Image.open(f) as img:
                img.draft("RGB", (THUMBNAIL_SIZE, THUMBNAIL_SIZE))  # JPEG: decode at a fraction of the size
                out.append(np.asarray(img.convert("RGB").resize((THUMBNAIL_SIZE, THUMBNAIL_SIZE))))
        except OSError:  # deleted meanwhile
            continue
    return out


def counts_markdown(store: CaptureStore) -> str:
    counts = store.counts()
    if not counts:
        return f"No classes yet: name {MIN_CLASSES} to {MAX_CLASSES} on the cards."
    parts = [f"**{n}**: {c}{' ✓' if c >= ENOUGH_PER_CLASS else ''}" for n, c in counts.items()]
    return " · ".join(parts) + f"  \n(at least {MIN_PER_CLASS} per class; about {ENOUGH_PER_CLASS} each works well)"


def class_cards(store: CaptureStore) -> list:
    """Updates for every card, in the order [cards..., names..., galleries..., counts...]: what ``store`` holds."""
    names = store.classes()
    shown = shown_classes(store)
    cards, boxes, galleries, counts = [], [], [], []
    for i in range(MAX_CLASSES):
        name = names[i] if i < len(names) else default_name(i)
        cards.append(gr.Group(visible=i < shown))
        boxes.append(name)
        galleries.append(thumbnails(store, name) if i < len(names) else [])
        counts.append(count_line(store, name) if i < len(names) else count_line_empty())
    return cards + boxes + galleries + counts


def count_line_empty() -> str:
    return f"**0** snapshots (at least {MIN_PER_CLASS})"


def teach_result_markdown(status: JobStatus) -> str:
    """The line beside "Teach": the teach job's progress and result (or why Teach waits)."""
    from demo.lab import status_markdown  # the Train tab's wording of a job's state

    if status.state == "idle":
        return f"Each class needs at least {MIN_PER_CLASS} snapshots; about {ENOUGH_PER_CLASS} each works well."
    if status.kind != "teach":
        return ("The fine-tuning lab's job is running; Teach is free again when it ends." if status.busy
                else f"Each class needs at least {MIN_PER_CLASS} snapshots; about {ENOUGH_PER_CLASS} each works well.")
    line = hide_paths(status_markdown(status))
    if status.state == "done":
        line += "  \nIts live answers are under the camera: show it your things."
    return line


# ---------------------------------------------------------------------------------------------------------------
# Models made in the app


def made_choices(ctx: AppContext) -> list[tuple[str, str]]:
    """(label, path) for the taught-models menu: the models jobs of the app made, newest first."""
    return [(checkpoint_label(p) + ("" if (model_origin(p) or {}).get("kind") == "teach" else " · fine-tuned"), str(p))
            for p in made_models(ctx.runs_dir)]


def own_newest(ctx: AppContext, key: str | None) -> str | None:
    """The newest model this browser made (None when it has none)."""
    for p in made_models(ctx.runs_dir):
        if key and (model_origin(p) or {}).get("owner") == key:
            return str(p)
    return None


def live_bars(ctx: AppContext, frame, model: str | None, state) -> tuple[str, dict, object]:
    """One camera frame through the taught model: (a verdict line, {class: probability} for gr.Label, the smoothed
    state). "not sure" when the top probability is under the model's threshold (core.explain.unsure_threshold);
    "nothing I know" for the background class."""
    if not model:
        return NO_MODEL_YET, {}, None
    ckpt = ctx.checkpoint(model)
    probs = probabilities(ckpt, preprocess(frame, ckpt).tensor)[0].numpy()
    state = smooth(state, model, probs)
    bars = {c: float(p) for c, p in zip(ckpt.classes, state.probs, strict=True)}
    best = max(bars, key=bars.get)
    p = bars[best]
    if best == BACKGROUND_CLASS:
        verdict = f"### nothing I know ({p:.0%})"
    elif p < unsure_threshold(ckpt):
        verdict = f"### not sure · maybe {best} ({p:.0%})"
    else:
        verdict = f"### {best} · {p:.0%} sure"
    return verdict, bars, state


# ---------------------------------------------------------------------------------------------------------------
# The section


def build(ctx: AppContext, jobs: JobManager, session: gr.State, launched: gr.State) -> dict:
    """The "Teach it new classes" section, inside the current layout. ``session`` holds this browser's key (its own
    snapshots, see capture_store; the page's load event sets it from the browser's localStorage); ``launched``
    receives the id of the job this browser starts. Returns its components, and as "names_changed" the events that
    (re)name the classes (for a follow-up that lists the new classes elsewhere)."""
    stored_key = _page_level(lambda: gr.BrowserState("", storage_key=BROWSER_KEY_STORAGE, secret=BROWSER_KEY_SECRET))
    with gr.Accordion("1 · Teach it new classes", open=True):
        gr.Markdown(f"Name {MIN_CLASSES} to {MAX_CLASSES} things, show each to the camera and capture it (or upload "
                    "photos), then press **Teach**: a new last layer learns them on top of the model selected at the "
                    "top, in about half a minute, and its live answers appear under the camera.")
        with gr.Row():
            with gr.Column(scale=2, min_width=320):
                camera = photo_input(sources=["webcam"], streaming=True, label="Camera", elem_id="teach-camera",
                                     webcam_options=gr.WebcamOptions(mirror=True))
                verdict = gr.Markdown(NO_MODEL_YET, elem_id="teach-verdict")
                bars = gr.Label(num_top_classes=MAX_CLASSES + 1, show_heading=False, label="Live answers",
                                elem_id="teach-bars")
                with gr.Row():
                    taught = gr.Dropdown(made_choices(ctx), value=None, label="Models taught here",
                                         info="made in this app (not the shipped ones); the bars show this one",
                                         elem_id="teach-models", scale=3)
                    delete_model = gr.Button("Delete this taught model", variant="stop", size="sm", scale=1,
                                             elem_id="teach-model-delete")
            with gr.Column(scale=3, min_width=420):
                cards, names, captures, records, uploads, galleries, counts, removes = ([] for _ in range(8))
                for i in range(MAX_CLASSES):
                    with gr.Group(visible=i < MIN_CLASSES, elem_id=f"teach-card-{i}") as card:
                        with gr.Row(equal_height=True):
                            names.append(gr.Textbox(default_name(i), show_label=False, max_length=40, scale=3,
                                                    elem_id=f"teach-name-{i}", container=False))
                            counts.append(gr.Markdown(count_line_empty(), elem_id=f"teach-count-{i}"))
                        with gr.Row():
                            captures.append(gr.Button("Capture", variant="primary", size="sm",
                                                      elem_id=f"teach-capture-{i}"))
                            records.append(gr.Button("● Keep capturing", size="sm", elem_id=f"teach-record-{i}"))
                            uploads.append(gr.UploadButton("Upload photos", file_count="multiple",
                                                           file_types=["image"], size="sm",
                                                           elem_id=f"teach-upload-{i}"))
                            removes.append(gr.Button("Remove", size="sm", variant="secondary", min_width=60,
                                                     elem_id=f"teach-remove-{i}"))
                        galleries.append(gr.Gallery(show_label=False, columns=6, height=120, allow_preview=False,
                                                    fit_columns=False, format="jpeg", elem_id=f"teach-gallery-{i}"))
                    cards.append(card)
                add_class = gr.Button(f"+ Add a class (up to {MAX_CLASSES})", size="sm", elem_id="teach-add")
                with gr.Row(equal_height=True):
                    teach_name = gr.Textbox(label="New model's name", placeholder="taught-keys-mug",
                                            info="blank: named after the classes", scale=2)
                    finetune = gr.Checkbox(label="then fine-tune every layer", value=False,
                                           info="six more epochs, two to three times as long; the top guess is right "
                                                "a little more often", scale=2)
                    teach = gr.Button("Teach", variant="primary", elem_id="teach-start", scale=1)
                result = gr.Markdown(teach_result_markdown(jobs.status()), elem_id="teach-result")
                with gr.Row():
                    export = gr.Button("Download snapshots (.zip)", size="sm", elem_id="teach-export")
                    delete = gr.Button("Delete all snapshots", size="sm", variant="stop", elem_id="teach-delete")
                export_file = gr.File(label="Snapshots as an image-folder dataset", visible=False,
                                      elem_id="teach-zip")
        # For scripts (gradio_client): name the classes in one text, add photos to a class by name
        names_text = gr.Textbox(visible=False, label="Class names")
        api_photos = gr.File(file_count="multiple", file_types=["image"], visible=False, label="Photos")
        api_class = gr.Textbox(visible=False, label="Class")
    latest = gr.State(None)  # the newest camera frame of this browser (its bytes, as received)
    recording = gr.State(None)  # the card "keep capturing" fills (its index), or None
    last_auto = gr.State(0.0)
    bars_state = gr.State(None)  # the smoothed probabilities of the bars
    card_outputs = cards + names + galleries + counts

    # -- this browser's key, then what it holds
    def on_open(stored):
        key = browser_key(stored)
        return key, key

    def on_restore(key):
        try:
            store = capture_store(ctx, key)
        except UserError:
            return [gr.skip()] * (len(card_outputs) + 1)
        taught_update = gr.Dropdown(choices=made_choices(ctx), value=own_newest(ctx, key))
        if not store.classes():  # a new browser: the cards as built (and whatever was typed into them meanwhile)
            return [gr.skip()] * len(card_outputs) + [taught_update]
        return class_cards(store) + [taught_update]

    root = gr.context.Context.root_block
    if root is not None:
        root.load(on_open, inputs=stored_key, outputs=[stored_key, session], show_progress="hidden",
                  api_visibility="private").then(
            on_restore, inputs=session, outputs=card_outputs + [taught], show_progress="hidden",
            api_visibility="private")

    # -- names
    names_changed = []  # the events that (re)name classes, for a follow-up elsewhere (the lab's dataset menu)

    def on_names(key, *boxes):
        """Name the classes as the cards say. Nothing is sent back: what a visitor is typing is never overwritten
        (an earlier box's answer may arrive after the next box was typed in); every later action names them again."""
        try:
            synced_store(ctx, key, list(boxes))
        except UserError as err:
            warn(err)

    for box in names:  # one at a time, in the order they were left
        names_changed.append(gr.on([box.submit, box.blur], on_names, inputs=[session, *names],
                                   show_progress="hidden", concurrency_id="teach-names", concurrency_limit=1,
                                   api_visibility="private"))

    def on_set_names(key, text):
        try:
            store = capture_store(ctx, key)
            store.set_classes(text or "")  # by name: a class still named keeps its snapshots
        except UserError as err:
            warn(err)
            return [gr.skip()] * len(card_outputs)
        return class_cards(store)

    names_changed.append(names_text.submit(on_set_names, inputs=[session, names_text], outputs=card_outputs,
                                           api_name="set_class_names"))

    def on_add(key, *boxes):
        try:
            store = synced_store(ctx, key, list(boxes))
            current = store.classes()
            if len(current) >= MAX_CLASSES:
                raise ConfigError(f"{MAX_CLASSES} classes is the most one model learns here")
            extra = next(default_name(i) for i in range(MAX_CLASSES + 1) if default_name(i) not in current)
            store.rename_classes(current + [extra])
        except UserError as err:
            warn(err)
            return [gr.skip()] * len(card_outputs)
        return class_cards(store)

    names_changed.append(add_class.click(on_add, inputs=[session, *names], outputs=card_outputs,
                                         api_visibility="private"))

    def on_remove(slot, key, *boxes):
        try:
            store = synced_store(ctx, key, list(boxes))
            current = store.classes()
            if len(current) <= MIN_CLASSES:
                raise ConfigError(f"a model needs at least {MIN_CLASSES} classes: rename this one instead")
            store.set_classes([n for i, n in enumerate(current) if i != slot])
        except UserError as err:
            warn(err)
            return [gr.skip()] * len(card_outputs)
        return class_cards(store)

    for i, button in enumerate(removes):
        names_changed.append(button.click(functools.partial(on_remove, i), inputs=[session, *names],
                                          outputs=card_outputs, api_visibility="private"))

    # -- snapshots
    def on_capture(slot, key, frame, *boxes):
        try:
            if frame is None:
                raise DataError("start the camera first (click it and allow the webcam), then capture")
            store = synced_store(ctx, key, list(boxes))
            name = store.classes()[slot]
            store.add(name, frame)
            bound_captures(ctx, store)
        except UserError as err:
            warn(err)
            return gr.skip(), gr.skip()
        return thumbnails(store, name), count_line(store, name)

    # "multiple": every click is a snapshot, even one made while the previous one is still being stored (Gradio's
    # default drops clicks while an event is pending, so a quick visitor lost snapshots on a busy machine).
    for i, button in enumerate(captures):
        button.click(functools.partial(on_capture, i), inputs=[session, latest, *names],
                     outputs=[galleries[i], counts[i]], show_progress="hidden", trigger_mode="multiple",
                     api_visibility="private")

    def record_labels(active: int | None) -> list:
        return [gr.Button("■ Stop" if i == active else "● Keep capturing",
                          variant="stop" if i == active else "secondary") for i in range(MAX_CLASSES)]

    def on_record(slot, key, active, *boxes):
        active = None if active == slot else slot
        if active is not None:
            try:
                synced_store(ctx, key, list(boxes))
            except UserError as err:
                warn(err)
                return [gr.skip()] * (MAX_CLASSES + 1)
        return [active] + record_labels(active)

    for i, button in enumerate(records):
        button.click(functools.partial(on_record, i), inputs=[session, recording, *names],
                     outputs=[recording, *records], show_progress="hidden", api_visibility="private")

    def add_files(store: CaptureStore, name: str, files) -> None:
        bad = 0
        for f in files:
            try:
                store.add(name, f)
            except UserError as err:
                if "already has" in str(err):
                    warn(err)
                    break
                bad += 1
        if bad:
            gr.Warning(f"{bad} of {len(files)} files were not usable images and were skipped")
        bound_captures(ctx, store)

    def on_upload(slot, key, files, *boxes):
        if not files:
            return gr.skip(), gr.skip()
        try:
            store = synced_store(ctx, key, list(boxes))
            name = store.classes()[slot]
        except UserError as err:
            warn(err)
            return gr.skip(), gr.skip()
        add_files(store, name, files if isinstance(files, list) else [files])
        return thumbnails(store, name), count_line(store, name)

    for i, button in enumerate(uploads):
        button.upload(functools.partial(on_upload, i), inputs=[session, button, *names],
                      outputs=[galleries[i], counts[i]], api_visibility="private")

    def on_api_photos(key, files, name):
        if not files:
            return gr.skip()
        try:
            store = capture_store(ctx, key)
            if name not in store.classes():
                raise ConfigError(f"{name!r} is not one of the named classes ({', '.join(store.classes()) or 'none yet'}"
                                  "): set the class names first")
        except UserError as err:
            warn(err)
            return gr.skip()
        add_files(store, name, files)
        return counts_markdown(store)

    api_counts = gr.Markdown(visible=False)
    api_photos.upload(on_api_photos, inputs=[session, api_photos, api_class], outputs=api_counts,
                      api_name="add_photos")

    # -- the camera: the newest frame, "keep capturing", and the taught model's live bars
    def on_frame(key, frame, active, last, model, state):
        out = {latest: frame}
        if frame is not None and active is not None and time.time() - last >= AUTO_CAPTURE_EVERY:
            try:
                store = capture_store(ctx, key)
                name = store.classes()[active]
                store.add(name, frame)
                out.update({galleries[active]: thumbnails(store, name), counts[active]: count_line(store, name),
                            last_auto: time.time()})
            except (UserError, IndexError):
                pass  # a full class or an unusable frame: the counter already says so
        if frame is not None and model:
            try:
                line, values, state = live_bars(ctx, frame, model, state)
                out.update({verdict: line, bars: values, bars_state: state})
            except Exception as err:  # a deleted model, an unreadable frame: a message, never a traceback
                out.update({verdict: f"### …\n{user_message(err)}", bars: {}})
        return out

    camera.stream(on_frame, inputs=[session, camera, recording, last_auto, taught, bars_state],
                  outputs=[latest, last_auto, verdict, bars, bars_state, *galleries, *counts],
                  stream_every=STREAM_EVERY, time_limit=600, concurrency_limit=2, concurrency_id="teach-camera",
                  show_progress="hidden", show_progress_on=[], api_visibility="private")  # no timer on the cards

    def on_model(model):
        return (gr.skip(), gr.skip()) if model else (NO_MODEL_YET, {})

    taught.change(on_model, inputs=taught, outputs=[verdict, bars], show_progress="hidden", api_visibility="private")

    # -- teaching, downloading, deleting snapshots
    def on_teach(key, model, name, fine):
        try:
            return launch_teach(jobs, capture_store(ctx, key), model, name, fine, owner=key)
        except UserError as err:
            warn(err)
            return gr.skip()

    # the names as the cards show them first (a name typed just before the click), then the job
    teach.click(on_names, inputs=[session, *names], show_progress="hidden", concurrency_id="teach-names",
                concurrency_limit=1, api_visibility="private").then(
        on_teach, inputs=[session, ctx.model, teach_name, finetune], outputs=launched, api_name="teach")

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
            return [gr.skip()] * (len(card_outputs) + 1)
        store.clear()
        gr.Info("All snapshots were deleted (the class names are kept).")
        return class_cards(store) + [gr.File(value=None, visible=False)]

    delete.click(on_delete, inputs=session, outputs=card_outputs + [export_file], api_name="delete_snapshots")
    return {"camera": camera, "names": names, "captures": captures, "records": records, "uploads": uploads,
            "galleries": galleries, "counts": counts, "cards": cards, "add": add_class, "removes": removes,
            "names_changed": names_changed, "teach": teach, "finetune": finetune, "result": result, "taught": taught,
            "delete_model": delete_model, "verdict": verdict, "bars": bars, "export": export, "delete": delete,
            "export_file": export_file, "stored_key": stored_key}


def _page_level(make):
    """``make()``'s component placed at the top level of the page being built, outside every tab: an inactive tab's
    components join the page only when it is opened, and the browser's key must be read when the page opens."""
    from gradio.context import get_render_context, set_render_context

    root = gr.context.Context.root_block
    if root is None:
        return make()
    previous = get_render_context()
    set_render_context(root)
    try:
        return make()
    finally:
        set_render_context(previous)
