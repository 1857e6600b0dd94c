"""Browser tests of the clickable pictures: a click on a confusion-matrix cell opens that cell's images (and Compare
offers only the models with the same classes), and a click on the Inside tab's overview opens that stage and channel in
the detailed views."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import core.evaluate as ce
from core.checkpoint import CheckpointStore, load_checkpoint
from demo import errors, inside
from demo.common import AppContext
from tests.browser_support import browser_page, menu_options, needs_chromium, open_tab, running_app
from tests.test_evaluate import sampled_checkpoint  # noqa: F401 (a fixture)

pytestmark = [pytest.mark.browser, needs_chromium]

PHOTO = Path(__file__).resolve().parent.parent / "demo" / "examples" / "chelsea_cat.jpg"
WAIT_MS = 90_000  # the Error analysis tab evaluates its sample when first opened; a busy CPU can take a while


def click_picture_at(page, elem_id: str, x: float, y: float) -> None:
    """Click the pixel (x, y) of the picture shown by the gr.Image ``#elem_id``, wherever the page scaled it to
    (the image keeps its aspect ratio and is centred in its box, as Gradio draws it)."""
    img = page.locator(f"#{elem_id} img").first
    img.scroll_into_view_if_needed()
    box = img.bounding_box()
    natural = img.evaluate("e => [e.naturalWidth, e.naturalHeight]")
    scale = min(box["width"] / natural[0], box["height"] / natural[1], 1)
    left = (box["width"] - natural[0] * scale) / 2
    top = (box["height"] - natural[1] * scale) / 2
    img.click(position={"x": left + x * scale, "y": top + y * scale})


@needs_chromium
def test_a_click_on_a_confusion_matrix_cell_shows_that_cells_images(sampled_checkpoint, tmp_path):  # noqa: F811
    ev = ce.cached_evaluation(load_checkpoint(sampled_checkpoint))
    conf = ce.confusion_matrix(ev.labels, ev.preds, len(ev.classes))
    off = conf.clone().fill_diagonal_(0)
    cell = off if off.sum() > 0 else conf  # the largest confusion, or (a perfect model) the largest diagonal cell
    t, p = divmod(int(cell.argmax()), len(ev.classes))
    true, pred, count = ev.classes[t], ev.classes[p], int(conf[t, p])
    _, cells = errors.confusion_picture(ev)  # the picture the tab draws on opening, and where its cells are
    x = cells["left"] + (p + 0.5) * cells["width"] / cells["cols"]
    y = cells["top"] + (t + 0.5) * cells["height"] / cells["rows"]

    models = tmp_path / "models"  # the model, a copy with the same classes, and one with other classes
    shutil.copytree(sampled_checkpoint, models / sampled_checkpoint.name)
    shutil.copytree(sampled_checkpoint, models / "same-classes")
    shutil.copytree(sampled_checkpoint, models / "other-classes")
    config = json.loads((models / "other-classes" / "config.json").read_text())
    config["classes"] = [f"digit {i}" for i in range(len(config["classes"]))]
    (models / "other-classes" / "config.json").write_text(json.dumps(config))

    with running_app(models, runs_dir=tmp_path / "runs") as url, browser_page(url, timeout_ms=WAIT_MS) as page:
        page.locator("#model-select input").click()
        page.get_by_role("option", name=sampled_checkpoint.name).first.click()
        open_tab(page, "Error analysis")
        page.locator("#errors-status").get_by_text("bundled evaluation sample").wait_for()
        page.wait_for_function("document.querySelector('#errors-confusion img')?.naturalWidth > 0")
        assert "Click a cell" in page.locator("#errors-read-confusion").inner_text()
        assert "0 is perfect" in page.locator("#errors-read-reliability").inner_text()
        click_picture_at(page, "errors-confusion", x, y)
        page.locator("#errors-cell-text").get_by_text(f"images of {true}").wait_for()
        text = page.locator("#errors-cell-text").inner_text()
        assert f"{count} of" in text and (true == pred or f"predicted as {pred}" in text)
        assert page.locator("#errors-true input").input_value() == true
        assert page.locator("#errors-pred input").input_value() == pred
        gallery = page.locator("#errors-gallery img")
        gallery.first.wait_for()
        assert gallery.count() == min(count, errors.GALLERY_LIMIT)
        # the captions can render a moment after the images: wait for them rather than read at once
        page.wait_for_function("t => document.querySelector('#errors-gallery')?.innerText.includes(t)", arg=true)
        # a click outside the cells (the title's corner) changes nothing
        click_picture_at(page, "errors-confusion", 2, 2)
        page.wait_for_timeout(500)
        assert page.locator("#errors-true input").input_value() == true

        # Compare offers the model with the same classes, not the one with other classes (nor the model itself)
        page.get_by_text("Compare with another model").click()
        offered = menu_options(page, "errors-other")
        assert any("same-classes" in o for o in offered), offered
        assert not any("other-classes" in o or sampled_checkpoint.name in o for o in offered), offered


@needs_chromium
def test_the_inside_overview_shows_every_stage_and_a_click_opens_a_map(sampled_checkpoint, tmp_path):  # noqa: F811
    ctx = AppContext(CheckpointStore(sampled_checkpoint.parent))
    model = ctx.default_model()
    _, layout, _ = inside.overview(ctx, str(PHOTO), model)  # the overview the tab draws for this photo
    row = layout["stages"].index("stage2")
    column = 2
    channel = layout["channels"][row][column]
    grid = layout["grid"]
    x = grid["left"] + column * grid["width"] / grid["cols"] + inside.OVERVIEW_TILE / 2
    y = grid["top"] + row * grid["height"] / grid["rows"] + inside.OVERVIEW_TILE / 2

    with running_app(sampled_checkpoint.parent, runs_dir=tmp_path / "runs") as url, \
            browser_page(url, timeout_ms=WAIT_MS) as page:
        open_tab(page, "Upload & explore")
        page.locator("#explore-image input[type=file]").set_input_files(str(PHOTO))
        open_tab(page, "Inside the CNN")
        page.wait_for_function("document.querySelector('#inside-overview img')?.naturalWidth > 0")
        page.locator("#inside-maps img").first.wait_for(state="visible")
        assert page.locator("#inside-layer input").input_value() == "stem"
        click_picture_at(page, "inside-overview", x, y)
        page.wait_for_function("document.querySelector('#inside-layer input').value === 'stage2'")
        page.wait_for_function(f"document.querySelector('#inside-channel input').value === '{channel}'")
        page.locator("#inside-top9-message").get_by_text(f"channel {channel} of stage2").wait_for()
        assert f"#{channel} ·" in page.locator("#inside-maps").inner_text()  # the chosen map is among those shown
        assert page.locator("#inside-top9 img").count() == 9
