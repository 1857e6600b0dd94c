"""Live camera (the landing tab): webcam frames -> top guesses, group, Grad-CAM overlay, and the tiny
input the network really sees. Thin callbacks over core.explain; the smoothing state lives in gr.State.
"""

from __future__ import annotations

import html
import os
from dataclasses import dataclass
from pathlib import Path

import gradio as gr
import numpy as np

from core.explain import explain_photo, overlay, pixelated, unsure_threshold
from core.predict import group_probabilities
from core.teach import BACKGROUND_CLASS
from demo.common import photo_input, user_message

STREAM_EVERY = 0.15  # seconds between frames sent by the browser: ~7 frames/s is smooth enough to follow
STREAM_SECONDS = int(os.environ.get("WTCS_STREAM_SECONDS", 600))  # a visitor's stream stops after this
# Visitors streaming at once. A stream holds its place from the camera's start to its stop (up to STREAM_SECONDS),
# idle or not, so this is how many people can use the live view together; the next one waits for a place with the
# camera running and no answer. Each stream answers its newest frame and skips the rest, so more streams share the
# two cores (fewer answers a second each) rather than queue frames.
LIVE_STREAMS = int(os.environ.get("WTCS_LIVE_STREAMS", 16))
SMOOTHING = 0.6  # weight of the past in the moving average: a new guess needs ~3 frames (~0.4 s) to take over
TOP_K = 5
DISPLAY_SIZE = 320  # overlay size in pixels: enough for a screen, small enough to send 7 times a second
SEEN_SIZE = 256  # "what the network sees" is scaled up to about this

# One screen, no scrolling, at 1366x768 as at 1920x1080 (tests/test_browser_layout.py measures both): the page's title,
# model menu and tab bar take about 190 px above the tab, and the panels share what is left of the viewport's height.
CAMERA_HEIGHT = "min(calc(100vh - 260px), 760px)"
PANEL_HEIGHT = "min(calc(50vh - 150px), 380px)"  # Grad-CAM and "what the network sees", one above the other
# Page-wide style, put in the document's head by the headline (gr.HTML's head=), so it holds however the app is
# launched. The headline's type shrinks with a short screen; the camera shows its whole frame (what is sent).
LIVE_CSS = """<style>
#live-camera video { object-fit: contain; }
.wtcs-camera .icon-with-text { width: auto; white-space: nowrap; }  /* "Stop camera" on one line */
#live-headline .wtcs-top { font-size: clamp(2.4rem, 8vh, 4.5rem); font-weight: 800; line-height: 1.1; }
#live-headline .wtcs-detail { font-size: clamp(1.1rem, 2.6vh, 1.6rem); opacity: 0.85; }
</style>"""
# One click starts a camera, and its stream pauses while its tab is hidden (see the file's header).
CAMERA_JS = (Path(__file__).resolve().parent / "live_camera.js").read_text()
CAMERA_CLASS = "wtcs-camera"  # the streaming webcams CAMERA_JS runs
# For a listener's js=: the Live tab's camera starts (or resumes) as soon as the Live tab is on screen.
START_CAMERA_JS = "() => { window.wtcsLive && window.wtcsLive.start(); return []; }"


@dataclass
class LiveState:
    """Per visitor: the model the average belongs to and the smoothed probabilities (classes,)."""

    model: str
    probs: np.ndarray


@dataclass
class LiveResult:
    headline: str  # HTML: the top guess in large type (or "not sure"), the group
    top: dict[str, float]  # for gr.Label
    overlay: np.ndarray | None  # (d, d, 3) uint8
    seen: np.ndarray | None  # (s, s, 3) uint8, pixelated input
    state: LiveState | None


def smooth(previous: LiveState | None, model: str, probs: np.ndarray, weight: float = SMOOTHING) -> LiveState:
    """Exponential moving average of probabilities over frames; restarts when the model changes."""
    if previous is None or previous.model != model or previous.probs.shape != probs.shape:
        return LiveState(model, probs.astype(np.float32))
    return LiveState(model, (weight * previous.probs + (1 - weight) * probs).astype(np.float32))


def headline_html(text: str, detail: str = "", colour: str = "inherit") -> str:
    """The top guess in type readable from two metres, with a smaller second line."""
    return (f'<div class="wtcs-headline" style="text-align:center">'
            f'<div class="wtcs-top" style="font-weight:800;color:{colour}">{html.escape(text)}</div>'
            f'<div class="wtcs-detail">{html.escape(detail)}</div></div>')


def live_frame(ctx, frame: str | bytes | np.ndarray | None, model: str | None, state: LiveState | None) -> LiveResult:
    """One webcam frame (the file or bytes as received, opened within core.data's pixel cap, or an (H, W, 3) uint8
    array) or None -> what to show. Never raises for bad input."""
    if frame is None:
        return LiveResult(headline_html("Start the camera", "allow the webcam, then hold something up"), {}, None,
                          None, state)
    try:
        ckpt = ctx.checkpoint(model)
        # Explain the guess on screen (the smoothed one), so the heatmap and the big word agree.
        target = int(state.probs.argmax()) if state is not None and state.model == model \
            and len(state.probs) == len(ckpt.classes) else None
        ex = explain_photo(ckpt, frame, target_class=target, display_size=DISPLAY_SIZE)
    except Exception as err:  # a visitor sees a message, never a traceback
        return LiveResult(headline_html("…", user_message(err)), {}, None, None, state)
    state = smooth(state, model, ex.probs)
    probs = state.probs
    order = np.argsort(-probs)[:TOP_K]
    top = {ckpt.classes[i]: float(probs[i]) for i in order}
    best, p = ckpt.classes[order[0]], float(probs[order[0]])
    groups = sorted(group_probabilities(probs, ckpt.classes, ckpt.groups).items(), key=lambda kv: -kv[1])
    group = f" · {groups[0][0]} {groups[0][1]:.0%}" if groups else ""
    if best == BACKGROUND_CLASS:  # a taught model's snapshots of the empty scene
        head = headline_html("nothing I know", f"{p:.0%} sure there is nothing to name", colour="#888")
    elif p < unsure_threshold(ckpt):
        head = headline_html("not sure", f"maybe {best.replace('_', ' ')} ({p:.0%}){group}", colour="#888")
    else:
        head = headline_html(best.replace("_", " "), f"{p:.0%} sure{group}")
    return LiveResult(head, top, overlay(ex.photo, ex.heatmap, 0.45), pixelated(ex.pixels, SEEN_SIZE), state)


def build(ctx) -> dict:
    """The Live camera tab. Returns its components; "freeze" and "frame" feed the Explore tab."""
    # Three columns, so that the camera, the answer and why all fit on one kiosk screen.
    with gr.Row(equal_height=False):
        with gr.Column(scale=5, min_width=320):
            # frames reach the callback undecoded (photo_input): four 116 KB PNG bombs decoded by Gradio took 4.6 GB
            camera = photo_input(sources=["webcam"], streaming=True, label="Camera", elem_id="live-camera",
                                 elem_classes=[CAMERA_CLASS], height=CAMERA_HEIGHT,
                                 webcam_options=gr.WebcamOptions(mirror=True))
            freeze = gr.Button("Freeze: explore this frame", variant="secondary", elem_id="live-freeze")
        with gr.Column(scale=4, min_width=280):
            headline = gr.HTML(headline_html("Start the camera", "allow the webcam, then hold something up"),
                               elem_id="live-headline", head=LIVE_CSS, js_on_load=CAMERA_JS)
            label = gr.Label(num_top_classes=TOP_K, label="Top 5 guesses", elem_id="live-label")
        with gr.Column(scale=3, min_width=220):
            cam = gr.Image(label="Where it looked (Grad-CAM: red = mattered most)", format="jpeg", interactive=False,
                           height=PANEL_HEIGHT, elem_id="live-cam")
            seen = gr.Image(label="What the network sees (its real input, pixels enlarged)", format="png",
                            interactive=False, height=PANEL_HEIGHT, elem_id="live-seen")
    state = gr.State(None)
    last_frame = gr.State(None)  # the frame as received (bytes), kept on the server for "freeze" (nothing re-sent)

    def on_frame(frame, model, st):
        r = live_frame(ctx, frame, model, st)
        return r.headline, r.top, r.overlay, r.seen, r.state, frame

    camera.stream(on_frame, inputs=[camera, ctx.model, state], outputs=[headline, label, cam, seen, state, last_frame],
                  stream_every=STREAM_EVERY, time_limit=STREAM_SECONDS, concurrency_limit=LIVE_STREAMS,
                  concurrency_id="live",
                  show_progress="hidden", api_name="live_stream")
    # The same work for one frame as a plain (non-streaming) endpoint, for scripts and the latency
    # benchmark: gradio_client cannot consume streaming events. The hidden image never changes in a browser.
    api_frame = photo_input(visible=False)
    api_frame.change(lambda frame, model: on_frame(frame, model, None)[:4], inputs=[api_frame, ctx.model],
                     outputs=[headline, label, cam, seen], api_name="live_frame", concurrency_id="live",
                     concurrency_limit=LIVE_STREAMS, show_progress="hidden")  # Gradio keeps the smallest limit of an id
    return {"camera": camera, "frame": last_frame, "freeze": freeze, "headline": headline, "label": label,
            "cam": cam, "seen": seen, "state": state}


def then_show_live(ctx, event):
    """Chain onto ``event`` (what a Gradio listener returns, e.g. teaching's): when it succeeds, the Live tab is selected
    and its camera starts, or resumes, in the browser (one click less for the visitor). Returns the new listener."""
    return event.success(lambda: gr.Tabs(selected="live"), outputs=ctx.tabs, js=START_CAMERA_JS,
                         show_progress="hidden", api_visibility="private")
