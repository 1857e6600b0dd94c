"""The Train tab in a real (headless) browser: capture snapshots from Chromium's fake webcam, teach, watch the
job finish, and find the new model selected in the Model menu; a reload shows the same job."""

from __future__ import annotations

import re

from tests.browser_support import browser_page, needs_chromium, open_tab, running_app, start_webcam

# Each teaching phase stops itself after a minute (core.teach); the rest is a process starting on a busy machine:
# a CI run next to a training run took 14 min instead of 5 and this job missed a 2-minute wait.
JOB_TIMEOUT_MS = 300_000


def capture(page, times: int) -> None:
    for _ in range(times):
        page.locator("#teach-capture").click()
        page.wait_for_timeout(50)  # quicker than a snapshot is stored: every click must still count


@needs_chromium
def test_teach_from_the_tab_to_a_new_model_in_the_selector(tiny_checkpoint, tmp_path):
    runs = tmp_path / "runs"
    with running_app(tiny_checkpoint.parent, runs_dir=runs, allow_training=True) as url, \
            browser_page(url, fake_camera=True) as page:
        open_tab(page, "Train")
        page.locator("#teach-names textarea, #teach-names input").first.fill("apples, keys")
        page.locator("#teach-set").click()
        page.locator("#teach-class").get_by_label("apples").wait_for()
        start_webcam(page, "teach-camera")
        page.wait_for_timeout(1000)  # the first frames reach the server
        capture(page, 5)
        page.locator("#teach-class").get_by_label("keys").check()
        keep = page.get_by_label("keep capturing")
        keep.check()  # a snapshot every few tenths of a second while the camera streams
        page.wait_for_function("() => /keys: ([5-9]|\\d\\d)/.test(document.querySelector('#teach-counts').innerText)")
        keep.uncheck()
        assert "apples: 5" in page.locator("#teach-counts").inner_text()

        page.locator("#teach-start").click()
        status = page.locator("#train-status")
        page.wait_for_function("() => /finished|failed/.test(document.querySelector('#train-status').innerText)",
                               timeout=JOB_TIMEOUT_MS)
        assert "finished" in status.inner_text(), status.inner_text()

        # the launching browser selects the new model and goes to the Live tab
        page.wait_for_function("() => document.querySelector('#model-select input').value.startsWith('taught-apples-keys')")
        assert page.get_by_role("tab", name="Live camera").get_attribute("aria-selected") == "true"
        page.locator("#model-select input").click()
        options = page.get_by_role("option").all_inner_texts()
        assert any(re.search(r"taught-apples-keys \(\d+\.\d%\)", o) for o in options), options
        assert any(tiny_checkpoint.name in o for o in options)

        # the job's state lives on the server: a reload shows the same finished job and its log
        page.reload()
        open_tab(page, "Train")
        page.wait_for_function("() => document.querySelector('#train-status').innerText.includes('taught-apples-keys')")
        assert "finished" in status.inner_text()
        page.wait_for_function("() => document.querySelector('#train-log textarea').value.includes('epoch 25/25')")
        page.locator("#train-loss").get_by_text("validation").wait_for()  # the curves' legend is drawn
    assert (runs / "taught-apples-keys" / "model.safetensors").is_file()
