"""Upload & explore: one photo, the top guesses, and a class activation map you can steer (method, target
class "why not X?", layer, opacity), optionally next to a second model's view of the same photo.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import gradio as gr
import numpy as np

from core.explain import CAM_LABELS, SCORECAM_CHANNELS, SLOW_METHODS, eval_sample_files, explain_photo, overlay
from demo.common import AppContext, finite_number, photo_input, user_message

EXAMPLES_DIR = Path(__file__).resolve().parent / "examples"
TOP_K = 5
TOP_GUESS = ""  # target-class value meaning "explain the top guess"
DEFAULT_LAYER = ""  # layer value meaning "the model's last conv stage"
PHOTO_HEIGHT = "min(calc(100vh - 300px), 440px)"  # the photo and its heatmap, under the title, model menu and tabs


def example_photos() -> list[str]:
    """The photos bundled in demo/examples (see LICENSES.md there)."""
    return sorted(str(p) for p in EXAMPLES_DIR.glob("*") if p.suffix.lower() in {".jpg", ".jpeg", ".png", ".webp"})


@dataclass
class View:
    """One model's view of the photo, ready for gr.Label / gr.Image / gr.Markdown."""

    top: dict[str, float] | None
    overlay: np.ndarray | None
    caption: str


def model_view(ctx: AppContext, image, model: str | None, method: str = "gradcam", target: str = TOP_GUESS,
               layer: str = DEFAULT_LAYER, alpha: float = 0.5, on_progress=None) -> View:
    """Explain ``image`` (file path, array or None) with one model. ``target`` is a class name (a class this
    model does not know falls back to its top guess) and ``layer`` a stage name (likewise). on_progress(done, total):
    see core.explain.explain_photo."""
    if image is None:
        return View(None, None, "Upload a photo, paste one, or pick an example below.")
    try:
        ckpt = ctx.checkpoint(model)
        target_index = ckpt.classes.index(target) if target in ckpt.classes else None
        conv = ckpt.model.conv_stage_names()
        ex = explain_photo(ckpt, image, target_index, method, layer if layer in conv else None, display_size=384,
                           on_progress=on_progress)
    except Exception as err:  # a visitor sees a message, never a traceback
        return View(None, None, user_message(err))
    order = np.argsort(-ex.probs)[:TOP_K]
    top = {ckpt.classes[i]: float(ex.probs[i]) for i in order}
    explained = ckpt.classes[ex.target]
    caption = (f"**{ckpt.name}** · {CAM_LABELS.get(method, method)} for **{explained}** "
               f"(probability {ex.probs[ex.target]:.1%}) at layer {layer if layer in conv else conv[-1]}")
    return View(top, overlay(ex.photo, ex.heatmap, alpha), caption)


def explore(ctx: AppContext, image, model, method="gradcam", target=TOP_GUESS, layer=DEFAULT_LAYER, alpha=0.5,
            compare=None, progress=None) -> tuple:
    """The callback: (label, overlay, caption) for the selected model, then the same for ``compare`` (all
    None / "" when no second model is chosen). progress: a gr.Progress, moved along by slow methods."""
    a = model_view(ctx, image, model, method, target, layer, alpha, slow_method_progress(progress, model))
    b = (model_view(ctx, image, compare, method, target, layer, alpha, slow_method_progress(progress, compare))
         if compare else View(None, None, ""))
    return a.top, a.overlay, a.caption, b.top, b.overlay, b.caption


def model_options(ctx: AppContext, model: str | None) -> tuple[list, list, list[tuple[str, str]]]:
    """For the selected model: target-class choices, layer choices, and eval-sample gallery items
    [(path, class)]. Empty lists when no model loads."""
    try:
        ckpt = ctx.checkpoint(model)
    except Exception:  # no model: the explore callback already says why
        return [("top guess", TOP_GUESS)], [("last conv stage", DEFAULT_LAYER)], []
    targets = [("top guess", TOP_GUESS)] + [(c.replace("_", " "), c) for c in ckpt.classes]
    layers = [("last conv stage", DEFAULT_LAYER)] + [(n, n) for n in ckpt.model.conv_stage_names()]
    return targets, layers, eval_sample_files(ckpt)


def slow_method_progress(progress, model: str | None):
    """on_progress(done, total) for core.explain that moves ``progress`` (a gr.Progress) and says how long is left,
    from the pace so far; None without a progress bar."""
    if progress is None:
        return None
    start = time.monotonic()

    def report(done: int, total: int) -> None:
        left = (time.monotonic() - start) / max(1, done) * (total - done)
        progress(done / total, desc=f"{model}: Score-CAM, {done} of {total} channels, about {left:.0f} s left")
    return report


def method_warning(method: str) -> None:
    if method in SLOW_METHODS:
        gr.Warning("Score-CAM runs the network once for each of its most varied channels (up to "
                   f"{SCORECAM_CHANNELS}): tens of seconds on a laptop's CPU. A bar shows how far it is.")


def build(ctx: AppContext) -> dict:
    """The Upload & explore tab. Returns its components ("image" receives frozen webcam frames)."""
    targets, layers, samples = model_options(ctx, ctx.default_model())
    # The photo, its heatmap and the answer side by side at the top (on one screen at 1366x768); the controls under
    # them, then the photos to pick from and the second model's view.
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=280):
            image = photo_input(sources=["upload", "clipboard"], label="Photo (upload, paste or pick below)",
                               elem_id="explore-image", height=PHOTO_HEIGHT)
        with gr.Column(scale=1, min_width=280):
            overlay_a = gr.Image(label="Class activation map", interactive=False, height=PHOTO_HEIGHT,
                                 elem_id="explore-heatmap")
        with gr.Column(scale=1, min_width=280):
            caption_a = gr.Markdown(elem_id="explore-caption")
            label_a = gr.Label(num_top_classes=TOP_K, label="Top 5", elem_id="explore-label")
    with gr.Row():
        method = gr.Dropdown([(label, key) for key, label in CAM_LABELS.items()], value="gradcam",
                             label="CAM method", elem_id="explore-method")
        target = gr.Dropdown(targets, value=TOP_GUESS, label="Explain class (why not X?)", elem_id="explore-target")
        layer = gr.Dropdown(layers, value=DEFAULT_LAYER, label="Layer", elem_id="explore-layer")
        alpha = finite_number(gr.Slider(0, 1, value=0.5, step=0.05, label="Heatmap opacity", elem_id="explore-alpha"))
        compare = gr.Dropdown([("none", "")] + ctx.store.choices(), value="", label="Compare with",
                              info="the same photo through a second model", elem_id="explore-compare")
    with gr.Row(equal_height=False):
        with gr.Column(scale=3):
            samples_gallery = gr.Gallery(value=samples, label="This model's own validation images (click one)",
                                         columns=8, height=200, allow_preview=False, elem_id="explore-samples")
            gr.Examples(examples=[[p] for p in example_photos()], inputs=[image], label="Example photos",
                        examples_per_page=8)
            sample_paths = gr.State([p for p, _ in samples])
        with gr.Column(scale=2):
            caption_b = gr.Markdown(elem_id="explore-caption-b")
            with gr.Row(equal_height=False):
                overlay_b = gr.Image(label="Class activation map (second model)", interactive=False, height=240,
                                     elem_id="explore-heatmap-b")
                label_b = gr.Label(num_top_classes=TOP_K, label="Top 5 (second model)", elem_id="explore-label-b")

    inputs = [image, ctx.model, method, target, layer, alpha, compare]
    outputs = [label_a, overlay_a, caption_a, label_b, overlay_b, caption_b]
    # Gradio hands a progress tracker to a callback through a gr.Progress() default
    def on_explore(photo, model, method, target_class, layer, opacity, compare_with, progress=gr.Progress()):  # noqa: B008
        return explore(ctx, photo, model, method, target_class, layer, opacity, compare_with, progress)

    gr.on([image.change, method.change, target.change, layer.change, alpha.release, compare.change, ctx.model.change],
          on_explore, inputs=inputs, outputs=outputs, concurrency_id="explore", concurrency_limit=2, trigger_mode="always_last",
          api_name="explore")
    method.change(method_warning, inputs=method, outputs=None, show_progress="hidden", api_visibility="private")

    def on_model(model):
        t, lay, s = model_options(ctx, model)
        return (gr.Dropdown(choices=t, value=TOP_GUESS), gr.Dropdown(choices=lay, value=DEFAULT_LAYER), s,
                [p for p, _ in s], gr.Dropdown(choices=[("none", "")] + ctx.store.choices()))

    ctx.model.change(on_model, inputs=ctx.model, outputs=[target, layer, samples_gallery, sample_paths, compare],
                     api_visibility="private")

    def pick_sample(paths, evt: gr.SelectData):
        return paths[evt.index] if paths and 0 <= evt.index < len(paths) else gr.skip()

    samples_gallery.select(pick_sample, inputs=sample_paths, outputs=image, api_visibility="private")
    return {"image": image, "method": method, "target": target, "layer": layer, "alpha": alpha, "compare": compare,
            "label": label_a, "heatmap": overlay_a, "caption": caption_a, "label_b": label_b, "heatmap_b": overlay_b,
            "samples": samples_gallery}
