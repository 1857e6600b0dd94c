"""build_app(): the tabs, the shared model selector and the theme.

Each tab lives in its own module with ``build(ctx) -> dict[str, gr.Component]``; the returned components
are what other tabs may wire to (the Live tab's "freeze" sends its frame to the Explore tab's image).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import gradio as gr

from core.checkpoint import CHECKPOINTS_DIR, CheckpointStore
from core.data import DATA_DIR

RUNS_DIR = Path(os.environ.get("WTCS_RUNS_DIR", CHECKPOINTS_DIR.parent / "runs"))
MAX_UPLOAD_MB = int(os.environ.get("WTCS_MAX_UPLOAD_MB", 200))


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
        choices = self.store.choices()
        return choices[0][1] if choices else None


def build_app(checkpoint_dir: str | Path = CHECKPOINTS_DIR, allow_training: bool = True,
              runs_dir: str | Path = RUNS_DIR) -> gr.Blocks:
    """The whole app as a gr.Blocks (not launched). Checkpoints come from ``checkpoint_dir`` and ``runs_dir``."""
    from demo import errors, explore, inside, live, train_tab

    ctx = AppContext(CheckpointStore(checkpoint_dir, runs_dir), runs_dir=Path(runs_dir), allow_training=allow_training)
    with gr.Blocks(title="What the CNN Sees") as app:
        gr.Markdown("# What the CNN Sees\nHold something up to the camera and watch what the network thinks, and why.")
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
    return app


def _wire_freeze(ctx: AppContext) -> None:
    """Live tab's "freeze" button -> the Explore tab's image, and switch to that tab."""
    live_parts, explore_parts = ctx.parts.get("live", {}), ctx.parts.get("explore", {})
    if "freeze" in live_parts and "frame" in live_parts and "image" in explore_parts:
        live_parts["freeze"].click(lambda frame: (frame, gr.Tabs(selected="explore")),
                                   inputs=live_parts["frame"], outputs=[explore_parts["image"], ctx.tabs])
