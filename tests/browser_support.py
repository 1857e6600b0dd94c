"""Start the app on a free localhost port and drive it from gradio_client or a headless Chromium.

    from tests.browser_support import running_app, browser_page, needs_chromium

    @needs_chromium
    def test_something(tiny_checkpoint, tmp_path):
        with running_app(tiny_checkpoint.parent, runs_dir=tmp_path / "runs") as url, browser_page(url) as page:
            page.get_by_role("tab", name="Upload & explore").click()
            ...

The server runs in this process (``launch(prevent_thread_lock=True)``), so tests can share fixtures with
it and it stops with ``app.close()``. Chromium is Debian's /usr/bin/chromium (browsers cannot be
downloaded here); Playwright never fetches its own.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

# Gradio must not phone home (no internet here, and an exhibition PC may have none either).
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")

CHROMIUM = os.environ.get("WTCS_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
FAKE_CAMERA_ARGS = ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]
needs_chromium = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"no Chromium at {CHROMIUM}")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_app(checkpoint_dir: str | Path, runs_dir: str | Path | None = None, allow_training: bool = False,
                port: int | None = None) -> Iterator[str]:
    """Build the app (demo.ui.build_app) and serve it on 127.0.0.1; yields its URL ("http://127.0.0.1:PORT/").

    runs_dir defaults to a folder that does not exist, so no fine-tuned models leak in from the repository.
    The server is closed on exit, also when the test fails.
    """
    from demo.ui import build_app

    runs = Path(runs_dir) if runs_dir is not None else Path(checkpoint_dir) / ".no-runs"
    app = build_app(checkpoint_dir, allow_training=allow_training, runs_dir=runs)
    app.queue(default_concurrency_limit=2)
    last_error: Exception | None = None
    for _ in range(3):  # another process may grab the free port between our check and the bind
        try:
            app.launch(server_name="127.0.0.1", server_port=port or free_port(), prevent_thread_lock=True,
                       quiet=True, share=False, show_error=False)
            break
        except OSError as err:
            last_error = err
            time.sleep(0.2)
    else:
        raise RuntimeError(f"could not start the app: {last_error}")
    try:
        yield app.local_url
    finally:
        app.close(verbose=False)


@contextmanager
def chromium(fake_camera: bool = False, fake_video: str | Path | None = None) -> Iterator:
    """A headless Chromium (Playwright) browser, closed on exit; open pages in it with ``new_page``.

    fake_camera: Chromium's synthetic webcam (a moving test pattern), so the Live tab can stream without
    hardware; fake_video: a .y4m or .mjpeg file that webcam plays instead of the test pattern (in a loop).
    """
    from playwright.sync_api import sync_playwright

    args = CHROMIUM_ARGS + (FAKE_CAMERA_ARGS if fake_camera else [])
    if fake_camera and fake_video is not None:
        args.append(f"--use-file-for-fake-video-capture={fake_video}")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)
        try:
            yield browser
        finally:
            browser.close()


def new_page(browser, url: str, width: int = 1400, height: int = 1000, timeout_ms: int = 30_000,
             camera: bool = False):
    """A page of its own (a visitor: own cookies, own Gradio session) opened at ``url`` with the UI loaded.

    The default viewport is wide enough for the two-column layouts; ``timeout_ms`` is the default for every
    wait; camera: the webcam permission is granted (the browser needs fake_camera)."""
    context = browser.new_context(viewport={"width": width, "height": height},
                                  permissions=["camera"] if camera else [])
    page = context.new_page()
    page.set_default_timeout(timeout_ms)
    page.goto(url, wait_until="domcontentloaded")
    page.wait_for_selector(".gradio-container", state="visible")
    return page


@contextmanager
def browser_page(url: str, width: int = 1400, height: int = 1000, timeout_ms: int = 30_000,
                 fake_camera: bool = False, fake_video: str | Path | None = None) -> Iterator:
    """One page in a headless Chromium (``chromium`` and ``new_page``); the browser is closed on exit."""
    with chromium(fake_camera, fake_video) as browser:
        yield new_page(browser, url, width, height, timeout_ms, camera=fake_camera)


def start_webcam(page, camera_id: str = "live-camera") -> None:
    """Grant and start the streaming webcam of the image component ``#camera_id`` (needs fake_camera=True): one click
    on the app's cameras (class wtcs-camera, demo/live_camera.js), Gradio's two (access, then record) on others."""
    camera = page.locator(f"#{camera_id}")
    camera.locator('[title="grant webcam access"] button').click()
    if "wtcs-camera" in (camera.get_attribute("class") or "").split():
        camera.locator('[title="stop recording"], [title="spinner"]').first.wait_for()
    else:
        camera.get_by_label("capture photo").click()  # for a streaming image this button starts the stream


def streaming_visitors(browser, url: str, visitors: int) -> list:
    """``visitors`` pages, each its own Gradio session, on the Live tab with the camera started (needs a browser
    with fake_camera). All pages load before any camera starts: a streaming page keeps Chromium busy."""
    pages = [new_page(browser, url, 800, 600, timeout_ms=120_000, camera=True) for _ in range(visitors)]
    for page in pages:
        open_tab(page, "Live camera")
    for page in pages:
        start_webcam(page)
    return pages


STRIPES = 12  # a numbered video frame shows its number in binary, a full-width stripe a bit (mirroring keeps it)


def numbered_video(path: str | Path, frames: int, fps: int, width: int = 160, height: int = 120) -> None:
    """A Y4M video (what Chromium's fake webcam can play) whose frame i shows i as black and white stripes."""
    import numpy as np

    if frames > 2 ** STRIPES:
        raise ValueError(f"{frames} frames: the stripes number at most {2 ** STRIPES}")
    stripe = height // STRIPES
    chroma = bytes([128]) * (width * height // 2)
    with open(path, "wb") as f:
        f.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for i in range(frames):
            luma = np.full((height, width), 16, np.uint8)
            for bit in range(STRIPES):
                if (i >> bit) & 1:
                    luma[bit * stripe:(bit + 1) * stripe] = 235
            f.write(b"FRAME\n" + luma.tobytes() + chroma)


def frame_number(frame) -> int:
    """The number numbered_video drew on a frame (an (H, W, 3) array, or the file or bytes the live view receives),
    read from the middle of each stripe (any size)."""
    import numpy as np

    if not isinstance(frame, np.ndarray):
        from core.data import open_image

        frame = np.asarray(open_image(frame))
    rows = frame.reshape(frame.shape[0], -1).mean(axis=1)
    stripe = frame.shape[0] / STRIPES
    return sum(1 << bit for bit in range(STRIPES)
               if rows[int((bit + 0.25) * stripe):int((bit + 0.75) * stripe) + 1].mean() > 128)


def streamed_live_frames(checkpoint_dir: str | Path, tmp: Path, seconds: float, fps: int = 10,
                         delay: float = 0.0) -> tuple[float, float, list[float], list[tuple[float, float, int]]]:
    """Stream a numbered video through the Live tab of the app for ``seconds`` after its first answer.

    Returns (start, end, sent, calls) on time.perf_counter()'s clock: when the browser posted each frame, and
    each live_frame callback's start, end and the number of the frame it got. ``delay`` (seconds) slows every
    callback down, to see what happens when frames come faster than they are answered.
    """
    from demo import live

    sent: list[float] = []
    calls: list[tuple[float, float, int]] = []
    original = live.live_frame

    def recorded(ctx, frame, model, state):
        start = time.perf_counter()
        try:
            time.sleep(delay)
            return original(ctx, frame, model, state)
        finally:
            if frame is not None:
                calls.append((start, time.perf_counter(), frame_number(frame)))

    def on_request(request) -> None:
        if request.method == "POST" and "/stream/" in request.url and not request.url.endswith("/close"):
            sent.append(time.perf_counter())

    video = tmp / "numbered.y4m"
    numbered_video(video, int((seconds + 60) * fps), fps)  # longer than the run: it must not loop
    live.live_frame = recorded  # the stream's callback looks it up at every frame
    try:
        with running_app(checkpoint_dir, runs_dir=tmp / "runs") as url, \
                browser_page(url, fake_camera=True, fake_video=video) as page:
            page.on("request", on_request)
            open_tab(page, "Live camera")
            start_webcam(page)
            page.locator("#live-cam img").wait_for(state="visible")
            start = time.perf_counter()
            page.wait_for_timeout(seconds * 1000)
            end = time.perf_counter()
    finally:
        live.live_frame = original
    return start, end, sent, calls


def open_tab(page, name: str) -> None:
    """Click the tab button labelled ``name`` ("Live camera", "Upload & explore", ...)."""
    tab = page.get_by_role("tab", name=name)
    tab.click()
    page.wait_for_function("t => t.getAttribute('aria-selected') === 'true'", arg=tab.element_handle())
    page.wait_for_timeout(300)  # let Gradio render the tab's components before screenshots or clicks


def menu_options(page, elem_id: str, seconds: float = 5) -> list[str]:
    """The options of the Gradio dropdown ``#elem_id`` as its open list shows them (opened, read, closed); empty when
    the list did not show within ``seconds`` (a server update that replaces the choices redraws an open list empty).

    A single-choice Gradio dropdown opens its list when its box gains focus, not on a click, and Escape closes the
    list but leaves the focus: the box is blurred before and after, so every call opens the list afresh."""
    box = page.locator(f"#{elem_id} input")
    box.blur()
    box.click()
    options = page.locator(f"#{box.get_attribute('aria-controls')}").get_by_role("option")
    deadline = time.time() + seconds
    while not options.count() and time.time() < deadline:
        page.wait_for_timeout(100)
    texts = [t.strip() for t in options.all_inner_texts()]
    page.keyboard.press("Escape")
    box.blur()
    return texts
