"""A real browser (Debian's Chromium, headless, via Playwright) uses the app like a visitor: uploads a photo,
sees a label and a heatmap (and Score-CAM's progress bar), streams Chromium's synthetic webcam, freezes a frame, and
looks inside the CNN.
Screenshots of every tab go to WTCS_SCREENSHOT_DIR when it is set (``WTCS_SCREENSHOT_DIR=docs`` refreshes the
README's pictures), else to the test's temporary folder, so a test run never changes the repository.

The checkpoints are the repository's own when there are any (so the screenshots show real models), else
the tiny test model; WTCS_SCREENSHOT_CHECKPOINTS picks another folder. Assertions hold for any model.

Upload & explore also keeps working after a model switch and a click on a validation image when the app's cache is
where it is by default, under the home folder (outside the working and temporary folders Gradio serves on its own).
"""

import json
import os
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from core.checkpoint import CHECKPOINTS_DIR, list_checkpoints
from core.data import load_train_val, write_sample_zip
from core.evaluate import SAMPLE_NAME
from tests.browser_support import browser_page, menu_options, needs_chromium, open_tab, running_app, start_webcam
from tests.fixtures import SHAPE_CLASSES

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

        # Score-CAM, the slow method: a warning when chosen, then a progress bar counting channels and seconds left
        page.evaluate("""() => { window.scorecamProgress = [];
            const pattern = /Score-CAM, \\d+ of \\d+ channels, about \\d+ s left/;
            new MutationObserver(() => { const m = document.body.innerText.match(pattern);
                if (m) window.scorecamProgress.push(m[0]); })
              .observe(document.body, {subtree: true, childList: true, characterData: true}); }""")
        page.locator("#explore-method input").click()
        page.get_by_role("option", name="Score-CAM").click()
        page.get_by_text("Score-CAM runs the network once for each").first.wait_for()
        page.wait_for_function("document.querySelector('#explore-caption').innerText.includes('Score-CAM')")
        assert page.evaluate("() => window.scorecamProgress.length") > 0
        page.locator("#explore-method input").click()
        page.get_by_role("option", name="Grad-CAM", exact=True).click()
        page.wait_for_function("!document.querySelector('#explore-caption').innerText.includes('Score-CAM')")

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


def two_models_with_samples(tiny_checkpoint: Path, shapes_dir: Path, root: Path) -> Path:
    """Two copies of the tiny model, each with its validation images bundled (eval_sample.zip): shapes-a knows the
    shapes by their names, shapes-b by others (ball, plus, box, wedge), so its class menu tells the two apart."""
    _, val = load_train_val(shapes_dir, 0.25, 0)
    a = shutil.copytree(tiny_checkpoint, root / "shapes-a")
    write_sample_zip(val, a / SAMPLE_NAME)
    b = shutil.copytree(tiny_checkpoint, root / "shapes-b")
    renamed = dict(zip(SHAPE_CLASSES, ("ball", "plus", "box", "wedge"), strict=True))
    config = json.loads((b / "config.json").read_text())
    config["classes"] = [renamed[c] for c in config["classes"]]
    (b / "config.json").write_text(json.dumps(config))
    write_sample_zip(replace(val, classes=[renamed[c] for c in val.classes]), b / SAMPLE_NAME)
    return root


def test_explore_after_a_model_switch_and_a_gallery_click_with_the_cache_under_home(tiny_checkpoint, shapes_dir,
                                                                                   tmp_path, monkeypatch):
    models = two_models_with_samples(tiny_checkpoint, shapes_dir, tmp_path / "checkpoints")
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("WTCS_CACHE_DIR", raising=False)  # the default place: ~/.cache/what-the-cnn-sees
    secret = home / "private.jpg"
    shutil.copy(PHOTO, secret)
    with running_app(models, runs_dir=tmp_path / "runs") as url, browser_page(url) as page:
        open_tab(page, "Upload & explore")
        assert "circle" in menu_options(page, "explore-target")
        # switch to the other model: its classes in the menu, its validation images in the gallery
        box = page.locator("#model-select input")
        box.click()
        page.locator(f"#{box.get_attribute('aria-controls')}").get_by_role("option").filter(has_text="shapes-b").click()
        page.wait_for_function("document.querySelector('#explore-samples img')?.src.includes('what-the-cnn-sees')")
        for _ in range(60):  # the class menu follows the model (one event after the switch)
            options = menu_options(page, "explore-target")
            if "ball" in options:
                break
            page.wait_for_timeout(500)
        assert "ball" in options and "circle" not in options, options
        page.locator("#explore-samples .thumbnail-item").first.click()
        page.wait_for_function("document.querySelector('#explore-image img')?.src.includes('what-the-cnn-sees')")
        page.wait_for_function("document.querySelector('#explore-caption').innerText.includes('shapes-b')")
        page.wait_for_function("document.querySelector('#explore-heatmap img')?.naturalWidth > 0")  # 32 px images
        assert any(c in label_text(page, "explore-label") for c in ("ball", "plus", "box", "wedge"))
        assert page.get_by_text("Error", exact=True).count() == 0  # Gradio's badge on a failed output
        assert page.locator(".toast-body.error").count() == 0
        # the app serves its own cache, not the rest of the home folder
        assert page.request.get(f"{url}gradio_api/file={secret}").status == 403
