"""Browser test: open the Error analysis tab in headless Chromium, pick a confusion cell, see its images."""

from __future__ import annotations

import core.evaluate as ce
from core.checkpoint import load_checkpoint
from tests.browser_support import browser_page, needs_chromium, open_tab, running_app
from tests.test_evaluate import sampled_checkpoint  # noqa: F401 (a fixture)


def _pick(page, elem_id: str, option: str) -> None:
    """Choose ``option`` in the Gradio dropdown with this elem_id."""
    box = page.locator(f"#{elem_id} input")
    box.click()
    # another dropdown's option list may still be in the page: take the one this input controls
    options = page.locator(f"#{box.get_attribute('aria-controls')}")
    options.get_by_role("option", name=option, exact=True).click()


@needs_chromium
def test_error_analysis_tab_picks_a_cell_and_shows_its_images(sampled_checkpoint, tmp_path):  # noqa: F811
    ev = ce.cached_evaluation(load_checkpoint(sampled_checkpoint))
    conf = ce.confusion_matrix(ev.labels, ev.preds, len(ev.classes))
    # the cell to pick: the largest confusion, or (a perfect model) the largest diagonal cell
    off = conf.clone().fill_diagonal_(0)
    cell = off if off.sum() > 0 else conf
    t, p = divmod(int(cell.argmax()), len(ev.classes))
    true, pred, count = ev.classes[t], ev.classes[p], int(conf[t, p])

    with running_app(sampled_checkpoint.parent, runs_dir=tmp_path / "runs") as url, browser_page(url) as page:
        open_tab(page, "Error analysis")
        status = page.locator("#errors-status")
        status.get_by_text("bundled evaluation sample").wait_for()
        assert "32 images" in status.inner_text()
        page.locator("#errors-confusion img").first.wait_for()  # the confusion matrix is drawn
        _pick(page, "errors-true", true)
        _pick(page, "errors-pred", pred)
        page.locator("#errors-show").click()
        page.locator("#errors-cell-text").get_by_text(f"images of {true}").wait_for()
        gallery = page.locator("#errors-gallery img")
        gallery.first.wait_for()
        assert gallery.count() == min(count, 24)
        assert f"{count} of" in page.locator("#errors-cell-text").inner_text()
        assert true in page.locator("#errors-gallery").inner_text()
