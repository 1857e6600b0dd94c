"""The live view in a real browser under load. When answering a frame takes longer than the 150 ms between webcam
frames (an ensemble on a slow machine), the app must answer the newest frame and skip the ones that came meanwhile,
not work through a queue of old frames and fall further and further behind the visitor. When several visitors
stream at once (a public Space), each must get answers, not wait with the camera running for another's to stop.
"""

import itertools
import statistics
from pathlib import Path

import pytest
from gradio_client import Client, handle_file

from demo import live
from tests.browser_support import chromium, needs_chromium, running_app, streamed_live_frames, streaming_visitors

pytestmark = [pytest.mark.browser, pytest.mark.slow, needs_chromium]

PHOTO = Path(__file__).resolve().parent.parent / "demo" / "examples" / "chelsea_cat.jpg"


def test_frames_that_come_faster_than_answers_are_skipped_not_queued(tiny_checkpoint, tmp_path):
    fps, delay = 10, 0.45
    start, end, sent, calls = streamed_live_frames(tiny_checkpoint.parent, tmp_path, seconds=5, fps=fps, delay=delay)
    answered = [number for began, _, number in calls if began >= start]
    posted = [t for t in sent if start <= t < end]
    assert len(answered) >= 5, calls
    assert len(posted) >= 1.5 * len(answered), (len(posted), len(answered))  # frames came faster than answers
    assert all(b > a for a, b in itertools.pairwise(answered)), answered  # never an older frame after a newer one
    # A queue answers frames in the order they were posted, 0.15 s (1.5 video frames) apart; answering the newest
    # one after each slow answer skips at least delay * fps (4.5) video frames.
    assert statistics.median(b - a for a, b in itertools.pairwise(answered)) >= 3, answered


def test_five_visitors_streaming_at_once_all_get_guesses(tiny_checkpoint, tmp_path):
    # A stream holds its place while its camera runs; with four places the fifth visitor waited up to ten minutes
    # (STREAM_SECONDS) with the camera on and no answer.
    visitors = 5
    assert live.LIVE_STREAMS >= visitors
    with running_app(tiny_checkpoint.parent, runs_dir=tmp_path / "runs") as url, chromium(fake_camera=True) as browser:
        # A script calls the stream's plain twin first: it shares the live places and must not shrink them.
        client = Client(url, verbose=False)
        client.predict(handle_file(str(PHOTO)), str(tiny_checkpoint), api_name="/live_frame")
        client.close()
        # every visitor, the last one included, sees guesses while all five stream
        for page in streaming_visitors(browser, url, visitors):
            page.wait_for_function("document.querySelector('#live-label').innerText.includes('%')")
            assert "Start the camera" not in page.locator("#live-headline").inner_text()
