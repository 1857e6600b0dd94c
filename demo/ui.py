"""build_app(): the tabs, the shared model selector and the theme.

Each tab lives in its own module with ``build(ctx) -> dict[str, gr.Component]``; the returned components
are what other tabs may wire to (the Live tab's "freeze" sends its frame to the Explore tab's image).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no telemetry calls: the app must run offline

import gradio as gr  # noqa: E402

from core.checkpoint import CHECKPOINTS_DIR, Checkpoint, CheckpointStore  # noqa: E402
from core.data import DATA_DIR  # noqa: E402
from core.errors import CheckpointError, UserError  # noqa: E402

log = logging.getLogger("wtcs.ui")

RUNS_DIR = Path(os.environ.get("WTCS_RUNS_DIR", CHECKPOINTS_DIR.parent / "runs"))
MAX_UPLOAD_MB = int(os.environ.get("WTCS_MAX_UPLOAD_MB", 200))
# The model the app opens with: the one trained on things a visitor can hold up to a webcam.
DEFAULT_MODEL = os.environ.get("WTCS_DEFAULT_MODEL", "everyday50-resnet")


@dataclass
class AppContext:
    """What every tab needs: where models and data are, what visitors may do, and shared components."""

    store: CheckpointStore
    runs_dir: Path = RUNS_DIR
    data_dir: Path = DATA_DIR
    allow_training: bool = True
    max_upload_mb: int = MAX_UPLOAD_MB
    model: gr.Dropdown | None = None  # the shared model selector (created by build_app, above the tabs)
    tabs: gr.Tabs | None = None
    parts: dict[str, dict] = field(default_factory=dict)  # tab id -> the components build() returned

    def default_model(self) -> str | None:
        """DEFAULT_MODEL when it is there, else the first checkpoint found (None when there is none)."""
        paths = self.store.paths()
        preferred = [p for p in paths if p.name == DEFAULT_MODEL]
        return str((preferred or paths)[0]) if paths else None

    def checkpoint(self, path: str | None) -> Checkpoint:
        """The loaded checkpoint for a model-selector value. Raises CheckpointError with advice when there is
        none (no models found yet, or nothing selected)."""
        if not path:
            if not self.store.paths():
                raise CheckpointError(no_model_message(self))
            raise CheckpointError("choose a model in the Model menu at the top")
        return self.store.get(path)


def no_model_message(ctx: AppContext) -> str:
    where = " or ".join(str(d) for d in ctx.store.dirs)
    return (f"No trained model found in {where}. Train one (python -m core.train --help) or copy a checkpoint "
            "folder (config.json + model.safetensors) there, then reload the page.")


def user_message(err: Exception) -> str:
    """What to show a visitor for an exception: a UserError's own message, else a generic line (the
    traceback goes to the server log, never to the page)."""
    if isinstance(err, UserError):
        return str(err)
    log.exception("unexpected error in a callback", exc_info=err)
    return f"Something went wrong ({type(err).__name__}); please try another image or model."


def photo_input(**kwargs) -> gr.Image:
    """A gr.Image (type="filepath") that hands uploads to our own decoder untouched.

    gr.Image opens every upload with PIL before the callback runs, so a corrupt or non-image file would end
    in Gradio's generic error; here the callback gets the file path and core.data.open_image turns any
    problem into a clear ImageError message (and applies EXIF orientation itself). The instance's
    preprocess is replaced rather than subclassing gr.Image, because Gradio writes a .pyi stub next to the
    source file of every component subclass."""
    image = gr.Image(type="filepath", **kwargs)
    original = image.preprocess

    def preprocess(payload):
        if payload is not None and getattr(payload, "path", None) and not str(payload.url or "").startswith("data:"):
            return str(payload.path)
        return original(payload)

    image.preprocess = preprocess
    return image


def build_app(checkpoint_dir: str | Path = CHECKPOINTS_DIR, allow_training: bool = True,
              runs_dir: str | Path = RUNS_DIR, precompute: bool = False) -> gr.Blocks:
    """The whole app as a gr.Blocks (not launched). Checkpoints come from ``checkpoint_dir`` and ``runs_dir``.
    ``precompute`` ranks the top images per channel of every model in a background thread (for a server start)."""
    from demo import errors, explore, inside, live, train_tab

    ctx = AppContext(CheckpointStore(checkpoint_dir, runs_dir), runs_dir=Path(runs_dir), allow_training=allow_training)
    if precompute:
        inside.precompute_channel_indexes(ctx)  # the same store as the tabs: each model is loaded once
    # The live tab writes two small images per frame (~7 frames/s per visitor) into Gradio's cache; an
    # exhibition runs all day, so files older than half an hour are swept every quarter hour.
    with gr.Blocks(title="What the CNN Sees", delete_cache=(900, 1800)) as app:
        gr.Markdown("# What the CNN Sees\nHold something up to the camera and watch what the network thinks, and why.")
        gr.Markdown(f"**{no_model_message(ctx)}**", visible=not ctx.store.paths(), elem_id="no-model")
        ctx.model = gr.Dropdown(choices=ctx.store.choices(), value=ctx.default_model(), label="Model",
                                info="every trained model found, with its validation accuracy", elem_id="model-select")
        with gr.Tabs() as ctx.tabs:
            with gr.Tab("Live camera", id="live"):
                ctx.parts["live"] = live.build(ctx)
            with gr.Tab("Upload & explore", id="explore"):
                ctx.parts["explore"] = explore.build(ctx)
            with gr.Tab("Inside the CNN", id="inside"):
                ctx.parts["inside"] = inside.build(ctx)
            with gr.Tab("Error analysis", id="errors"):
                ctx.parts["errors"] = errors.build(ctx)
            with gr.Tab("Train", id="train", visible=allow_training):
                ctx.parts["train"] = train_tab.build(ctx) if allow_training else {}
        _wire_freeze(ctx)
        # Models trained after start-up (or by the Train tab) appear when the page is reloaded.
        app.load(lambda current: _refresh_models(ctx, current), inputs=ctx.model, outputs=ctx.model)
    return app


def _refresh_models(ctx: AppContext, current: str | None) -> gr.Dropdown:
    choices = ctx.store.choices()
    paths = [p for _, p in choices]
    return gr.Dropdown(choices=choices, value=current if current in paths else (paths[0] if paths else None))


def _wire_freeze(ctx: AppContext) -> None:
    """Live tab's "freeze" button -> the Explore tab's image, and switch to that tab."""
    live_parts, explore_parts = ctx.parts.get("live", {}), ctx.parts.get("explore", {})
    if "freeze" in live_parts and "frame" in live_parts and "image" in explore_parts:
        live_parts["freeze"].click(_freeze, inputs=live_parts["frame"], outputs=[explore_parts["image"], ctx.tabs])


def _freeze(frame):
    if frame is None:
        gr.Warning("Start the camera first: there is no frame to freeze yet.")
        return gr.skip(), gr.skip()
    return frame, gr.Tabs(selected="explore")
