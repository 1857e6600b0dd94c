"""The kiosk screen in a real browser (headless Chromium, its synthetic webcam). At 1920x1080 and at 1366x768 the Live
camera tab shows the camera, the headline, the top 5, the Grad-CAM and what the network sees without scrolling, and
Upload & explore shows the answer and the heatmap beside the photo. The camera button reads "Start camera" and one click
starts the stream; the stream pauses while its tab, or the browser tab, is hidden (no frame reaches the server) and
resumes when it is shown again; a listener chained with demo.live.then_show_live lands on the Live tab, camera running.

The checkpoints are the repository's own when there are any (real class names, as a visitor sees them), else the tiny
test model. WTCS_SCREENSHOT_DIR=docs writes the kiosk pictures at both sizes (docs/live-1920.png, live-1366.png,
explore-1920.png, explore-1366.png).
"""

import os
import time
from pathlib import Path
from types import SimpleNamespace

import gradio as gr
import pytest

from core.checkpoint import CHECKPOINTS_DIR, list_checkpoints
from demo import live, ui
from tests.browser_support import chromium, needs_chromium, new_page, open_tab, running_app

pytestmark = [pytest.mark.browser, pytest.mark.slow, needs_chromium]

PHOTO = Path(__file__).resolve().parent.parent / "demo" / "examples" / "chelsea_cat.jpg"
VIEWPORTS = [(1920, 1080), (1366, 768)]
LIVE_PARTS = ["live-camera", "live-headline", "live-label", "live-cam", "live-seen"]
WAIT_MS = 120_000  # generous: the machine may be busy with other work


@pytest.fixture
def checkpoints(request) -> Path:
    """The repository's checkpoints when there are any, else the tiny test model's folder (trained only then)."""
    if list_checkpoints(CHECKPOINTS_DIR):
        return CHECKPOINTS_DIR
    return request.getfixturevalue("tiny_checkpoint").parent


@pytest.fixture
def answered_frames(monkeypatch) -> list[float]:
    """When (time.monotonic()) each webcam frame reached the live view's callback."""
    times: list[float] = []
    original = live.live_frame

    def recorded(ctx, frame, model, state):
        if frame is not None:
            times.append(time.monotonic())
        return original(ctx, frame, model, state)

    monkeypatch.setattr(live, "live_frame", recorded)  # the stream's callback looks it up at every frame
    return times


def outside_viewport(page, elem_id: str) -> str | None:
    """Why ``#elem_id`` is not wholly on screen without scrolling (None when it is)."""
    box = page.locator(f"#{elem_id}").bounding_box()
    view = page.viewport_size
    if box is None or box["width"] < 50 or box["height"] < 50:
        return f"{elem_id} is not shown: {box}"
    if box["x"] < 0 or box["y"] < 0 or box["x"] + box["width"] > view["width"] + 0.5 \
            or box["y"] + box["height"] > view["height"] + 0.5:
        return f"{elem_id} at {box} is outside the {view['width']}x{view['height']} viewport"
    return None


CAMERA_BUTTON = ('#live-camera [title="grant webcam access"] button, '  # before the webcam is granted
                 "#live-camera .button-wrap button.capture-button")  # after: start / stop the stream


def camera_button_text(page) -> str:
    """The text on the Live camera's button."""
    return page.locator(CAMERA_BUTTON).first.inner_text().strip()


def streaming(page) -> bool:
    return page.locator('#live-camera [title="stop recording"]').count() > 0


def wait_for_frames(page, frames: list[float], more_than: int) -> None:
    deadline = time.monotonic() + WAIT_MS / 1000
    while len(frames) <= more_than:
        assert time.monotonic() < deadline, f"no webcam frame reached the app ({len(frames)} so far)"
        page.wait_for_timeout(200)


def assert_paused(page, frames: list[float]) -> None:
    """The stream stops within a few seconds and no frame reaches the server for the next three."""
    page.wait_for_function("!document.querySelector('#live-camera [title=\"stop recording\"]')", timeout=WAIT_MS)
    page.wait_for_timeout(2000)  # a frame already on its way may still be answered
    before = len(frames)
    page.wait_for_timeout(3000)
    assert len(frames) == before, f"{len(frames) - before} frames reached the app while its tab was hidden"


def screenshot(page, name: str, default_dir: Path) -> None:
    """What the visitor's screen shows (the viewport, not the whole page), to WTCS_SCREENSHOT_DIR when it is set."""
    out = Path(os.environ.get("WTCS_SCREENSHOT_DIR", default_dir))
    out.mkdir(parents=True, exist_ok=True)
    page.wait_for_timeout(500)
    page.screenshot(path=str(out / f"{name}.png"))


def test_live_and_explore_fit_one_kiosk_screen_at_both_sizes(checkpoints, tmp_path):
    with running_app(checkpoints, runs_dir=tmp_path / "runs") as url, chromium(fake_camera=True) as browser:
        page = new_page(browser, url, *VIEWPORTS[0], timeout_ms=WAIT_MS, camera=True)
        open_tab(page, "Live camera")
        page.locator("#live-camera").get_by_text("Start camera").click()
        page.wait_for_function("document.querySelector('#live-seen img')?.naturalWidth >= 128")
        page.wait_for_function("document.querySelector('#live-label').innerText.includes('%')")
        for width, height in VIEWPORTS:
            page.set_viewport_size({"width": width, "height": height})
            open_tab(page, "Live camera")
            page.wait_for_timeout(1000)
            problems = [p for p in map(lambda e: outside_viewport(page, e), LIVE_PARTS) if p]
            assert not problems, problems
            screenshot(page, f"live-{width}", tmp_path)

        open_tab(page, "Upload & explore")
        page.locator("#explore-image input[type=file]").set_input_files(str(PHOTO))
        page.wait_for_function("document.querySelector('#explore-heatmap img')?.naturalWidth >= 100")
        page.wait_for_function("document.querySelector('#explore-label').innerText.includes('%')")
        for width, height in VIEWPORTS:
            page.set_viewport_size({"width": width, "height": height})
            page.wait_for_timeout(1000)
            problems = [p for p in map(lambda e: outside_viewport(page, e),
                                       ["explore-image", "explore-heatmap", "explore-label"]) if p]
            assert not problems, problems
            photo, heatmap, answer = (page.locator(f"#{e}").bounding_box()
                                      for e in ("explore-image", "explore-heatmap", "explore-label"))
            for beside in (heatmap, answer):  # to the right of the photo, level with it, not under it
                assert beside["x"] >= photo["x"] + photo["width"] - 1 and beside["y"] < photo["y"] + photo["height"]
            controls = page.locator("#explore-method").bounding_box()
            assert controls["y"] >= photo["y"] + photo["height"] - 1  # the controls come after the answer
            screenshot(page, f"explore-{width}", tmp_path)


def test_one_click_starts_the_camera_and_a_hidden_tab_pauses_it(checkpoints, answered_frames, tmp_path,
                                                                 monkeypatch):
    real_build = ui.build_app

    def with_teach_stand_in(*args, **kwargs):  # a button chained the way teaching lands on the Live tab
        app = real_build(*args, **kwargs)
        tabs = next(b for b in app.blocks.values() if isinstance(b, gr.Tabs))
        with app:
            done = gr.Button("Done", elem_id="stand-in-done")
            live.then_show_live(SimpleNamespace(tabs=tabs), done.click(lambda: None, api_visibility="private"))
        return app

    monkeypatch.setattr(ui, "build_app", with_teach_stand_in)
    with running_app(checkpoints, runs_dir=tmp_path / "runs") as url, chromium(fake_camera=True) as browser:
        page = new_page(browser, url, 1366, 768, timeout_ms=WAIT_MS, camera=True)
        open_tab(page, "Live camera")
        page.locator(CAMERA_BUTTON).get_by_text("Start camera").wait_for()
        assert camera_button_text(page) == "Start camera"
        page.locator(CAMERA_BUTTON).first.click()  # one click: access and stream
        wait_for_frames(page, answered_frames, 0)
        page.locator('#live-camera [title="stop recording"]').wait_for()  # the server has answered: no longer waiting
        assert camera_button_text(page) == "Stop camera"

        # another tab: paused; back: frames again
        open_tab(page, "Upload & explore")
        assert_paused(page, answered_frames)
        count = len(answered_frames)
        open_tab(page, "Live camera")
        wait_for_frames(page, answered_frames, count)

        # the browser tab hidden (another window in front): paused; shown again: frames again
        page.evaluate("""() => {
            Object.defineProperty(document, 'visibilityState', {configurable: true, get: () => 'hidden'});
            document.dispatchEvent(new Event('visibilitychange'));
        }""")
        assert_paused(page, answered_frames)
        count = len(answered_frames)
        page.evaluate("() => { delete document.visibilityState; document.dispatchEvent(new Event('visibilitychange')); }")
        wait_for_frames(page, answered_frames, count)

        # a visitor's stop stays a stop, across tabs
        page.locator("#live-camera").get_by_text("Stop camera").click()
        page.wait_for_function("!document.querySelector('#live-camera [title=\"stop recording\"]')")
        assert camera_button_text(page) == "Start camera"
        open_tab(page, "Upload & explore")
        open_tab(page, "Live camera")
        page.wait_for_timeout(1500)
        assert not streaming(page)
        page.close()

        # a new visitor who never touched the camera: the chained listener selects the Live tab and starts it
        page = new_page(browser, url, 1366, 768, timeout_ms=WAIT_MS, camera=True)
        open_tab(page, "Upload & explore")
        count = len(answered_frames)
        page.locator("#stand-in-done").click()
        live_tab = page.get_by_role("tab", name="Live camera")
        page.wait_for_function("t => t.getAttribute('aria-selected') === 'true'", arg=live_tab.element_handle())
        wait_for_frames(page, answered_frames, count)
        page.locator('#live-camera [title="stop recording"]').wait_for()
