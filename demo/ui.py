"""build_app(): the tabs and the shared model selector.

Each tab lives in its own module with ``build(ctx) -> dict[str, gr.Component]`` (what they share is in
demo.common); the returned components are what other tabs may wire to (the Live tab's "freeze" sends its frame to
the Explore tab's image).
"""

from __future__ import annotations

from pathlib import Path

import gradio as gr
import numpy as np

from core.checkpoint import CHECKPOINTS_DIR, CheckpointStore
from core.data import cache_dir, open_image
from core.errors import UserError
from demo import errors, explore, inside, lab, live
from demo.common import DEFAULT_MODEL, RUNS_DIR, AppContext, no_model_message, warn


def build_app(checkpoint_dir: str | Path = CHECKPOINTS_DIR, allow_training: bool = True,
              runs_dir: str | Path = RUNS_DIR, precompute: bool = False) -> gr.Blocks:
    """The whole app as a gr.Blocks (not launched). Checkpoints come from ``checkpoint_dir`` and ``runs_dir``.
    ``precompute`` ranks the top images per channel of every model in a background thread (for a server start)."""
    ctx = AppContext(CheckpointStore(checkpoint_dir, runs_dir), runs_dir=Path(runs_dir), allow_training=allow_training,
                     preferred_model=DEFAULT_MODEL)
    if precompute:
        inside.precompute_channel_indexes(ctx)  # the same store as the tabs: each model is loaded once
    # The galleries of Explore and Error analysis show evaluation-sample images unpacked into the app's cache (under the
    # home folder by default), which Gradio serves only from folders it is told about.
    gr.set_static_paths([str(cache_dir() / "unpacked")])
    # The live tab writes two small images per frame (~7 frames/s per visitor) into Gradio's cache; an
    # exhibition runs all day, so files older than half an hour are swept every quarter hour.
    # The whole window's width (a kiosk screen), and the title beside the model menu: the Live tab must fit one screen.
    with gr.Blocks(title="What the CNN Sees", delete_cache=(900, 1800), fill_width=True) as app:
        with gr.Row(equal_height=True):
            with gr.Column(scale=3):
                gr.Markdown("# What the CNN Sees\nHold something up to the camera and watch what the network thinks, "
                            "and why.")
            with gr.Column(scale=2, min_width=320):
                ctx.model = gr.Dropdown(choices=ctx.model_choices(), value=ctx.default_model(), label="Model",
                                        info="every trained model found, with its validation accuracy",
                                        elem_id="model-select")
        gr.Markdown(f"**{no_model_message(ctx)}**", visible=not ctx.store.paths(), elem_id="no-model")
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
                ctx.parts["train"] = lab.build(ctx) if allow_training else {}
        _wire_freeze(ctx)
        # Models trained after start-up (or by the Train tab) appear when the page is reloaded.
        app.load(lambda current: _refresh_models(ctx, current), inputs=ctx.model, outputs=ctx.model,
                 api_visibility="private")
    return app


def _refresh_models(ctx: AppContext, current: str | None) -> gr.Dropdown:
    choices = ctx.model_choices()
    paths = [p for _, p in choices]
    return gr.Dropdown(choices=choices, value=current if current in paths else (paths[0] if paths else None))


def _wire_freeze(ctx: AppContext) -> None:
    """Live tab's "freeze" button -> the Explore tab's image, and switch to that tab."""
    live_parts, explore_parts = ctx.parts.get("live", {}), ctx.parts.get("explore", {})
    if "freeze" in live_parts and "frame" in live_parts and "image" in explore_parts:
        live_parts["freeze"].click(_freeze, inputs=live_parts["frame"], outputs=[explore_parts["image"], ctx.tabs],
                                   api_visibility="private")


def _freeze(frame):
    if frame is None:
        gr.Warning("Start the camera first: there is no frame to freeze yet.")
        return gr.skip(), gr.skip()
    if isinstance(frame, bytes):  # a streamed frame arrives inline (a JPEG); the Explore tab's image needs a picture
        try:
            frame = np.asarray(open_image(frame))
        except UserError as err:
            warn(err)
            return gr.skip(), gr.skip()
    return frame, gr.Tabs(selected="explore")
