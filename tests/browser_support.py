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
def browser_page(url: str, width: int = 1400, height: int = 1000, timeout_ms: int = 30_000,
                 fake_camera: bool = False) -> Iterator:
    """A headless Chromium page (Playwright) opened at ``url`` with the Gradio UI loaded; closed on exit.

    The viewport is wide enough for the two-column layouts; ``timeout_ms`` is the default for every wait.
    fake_camera: give the page Chromium's synthetic webcam (a moving test pattern) with permission granted,
    so the Live tab can stream without hardware.
    """
    from playwright.sync_api import sync_playwright

    args = CHROMIUM_ARGS + (FAKE_CAMERA_ARGS if fake_camera else [])
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)
        try:
            context = browser.new_context(viewport={"width": width, "height": height},
                                          permissions=["camera"] if fake_camera else [])
            page = context.new_page()
            page.set_default_timeout(timeout_ms)
            page.goto(url, wait_until="domcontentloaded")
            page.wait_for_selector(".gradio-container", state="visible")
            yield page
        finally:
            browser.close()


def start_webcam(page, camera_id: str = "live-camera") -> None:
    """Grant and start the streaming webcam of the image component ``#camera_id`` (needs fake_camera=True)."""
    camera = page.locator(f"#{camera_id}")
    camera.get_by_text("Click to Access Webcam").click()
    camera.get_by_label("capture photo").click()  # for a streaming image this button starts the stream


def open_tab(page, name: str) -> None:
    """Click the tab button labelled ``name`` ("Live camera", "Upload & explore", ...)."""
    tab = page.get_by_role("tab", name=name)
    tab.click()
    page.wait_for_function("t => t.getAttribute('aria-selected') === 'true'", arg=tab.element_handle())
    page.wait_for_timeout(300)  # let Gradio render the tab's components before screenshots or clicks
