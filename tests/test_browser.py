"""A real browser (Debian's Chromium, headless, via Playwright) uses the app like a visitor: uploads a photo,
sees a label and a heatmap, streams Chromium's synthetic webcam, freezes a frame, and looks inside the CNN.
Screenshots of every tab go to WTCS_SCREENSHOT_DIR when it is set (``WTCS_SCREENSHOT_DIR=docs`` refreshes the
README's pictures), else to the test's temporary folder, so a test run never changes the repository.

The checkpoints are the repository's own when there are any (so the screenshots show real models), else
the tiny test model; WTCS_SCREENSHOT_CHECKPOINTS picks another folder. Assertions hold for any model.
"""

import os
from pathlib import Path

import pytest

from core.checkpoint import CHECKPOINTS_DIR, list_checkpoints
from tests.browser_support import browser_page, needs_chromium, open_tab, running_app, start_webcam

pytestmark = [pytest.mark.browser, pytest.mark.slow, needs_chromium]

PHOTO = Path(__file__).resolve().parent.parent / "demo" / "examples" / "chelsea_cat.jpg"


def checkpoint_dir(tiny_checkpoint: Path) -> Path:
    chosen = os.environ.get("WTCS_SCREENSHOT_CHECKPOINTS")
    if chosen:
        return Path(chosen)
    return CHECKPOINTS_DIR if list_checkpoints(CHECKPOINTS_DIR) else tiny_checkpoint.parent


def shot(page, name: str, default_dir: Path) -> Path:
    out = Path(os.environ.get("WTCS_SCREENSHOT_DIR", default_dir))
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.png"
    page.wait_for_timeout(500)  # let images finish fading in
    page.screenshot(path=str(path), full_page=True)
    return path


def label_text(page, elem_id: str) -> str:
    """The top class shown by the gr.Label ``#elem_id`` (its first line of text after the title)."""
    lines = [t.strip() for t in page.locator(f"#{elem_id}").inner_text().splitlines() if t.strip()]
    return lines[1] if len(lines) > 1 else ""


def test_a_visitor_uploads_a_photo_streams_the_camera_and_looks_inside(tiny_checkpoint, tmp_path):
    with running_app(checkpoint_dir(tiny_checkpoint), runs_dir=tmp_path / "runs", allow_training=True) as url, \
            browser_page(url, fake_camera=True) as page:
        # Upload & explore: a label and a heatmap appear for an uploaded photo.
        open_tab(page, "Upload & explore")
        page.locator("#explore-image input[type=file]").set_input_files(str(PHOTO))
        page.locator("#explore-heatmap img").wait_for(state="visible")
        page.wait_for_function("document.querySelector('#explore-label').innerText.includes('%')")
        assert label_text(page, "explore-label")
        page.wait_for_function("document.querySelector('#explore-heatmap img')?.naturalWidth >= 100")
        assert "Grad-CAM" in page.locator("#explore-caption").inner_text()
        shot(page, "explore", tmp_path)

        # Inside the CNN: the stages table and feature maps of the same photo.
        open_tab(page, "Inside the CNN")
        page.locator("#inside-maps img").first.wait_for(state="visible")
        assert "stage1" in page.locator("#inside-stages").inner_text()
        assert page.locator("#inside-maps img").count() >= 4
        shot(page, "inside", tmp_path)

        # Live camera: Chromium's fake webcam streams, the headline and the overlay update.
        open_tab(page, "Live camera")
        start_webcam(page)
        page.locator("#live-cam img").wait_for(state="visible")
        page.wait_for_function("document.querySelector('#live-label').innerText.includes('%')")
        assert "Start the camera" not in page.locator("#live-headline").inner_text()
        page.wait_for_function("document.querySelector('#live-seen img')?.naturalWidth >= 128")  # 32 px enlarged
        shot(page, "live", tmp_path)

        # Freeze: the current frame goes to the Explore tab and is explained there.
        page.locator("#live-freeze").click()
        explore = page.get_by_role("tab", name="Upload & explore")
        page.wait_for_function("t => t.getAttribute('aria-selected') === 'true'", arg=explore.element_handle())
        page.wait_for_function("document.querySelector('#explore-caption').innerText.includes('Grad-CAM')")

        # The other tabs, whoever built them (placeholders are screenshotted too).
        for tab, name in [("Error analysis", "errors"), ("Train", "train")]:
            open_tab(page, tab)
            page.wait_for_timeout(1000)
            # the Error analysis tab loads its figures when opened: wait until nothing shows "processing"
            page.wait_for_function("!document.body.innerText.includes('processing |')", timeout=90_000)
            shot(page, name, tmp_path)
