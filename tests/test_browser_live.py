"""The live view in a real browser when answering a frame takes longer than the 150 ms between webcam frames
(an ensemble on a slow machine): the app must answer the newest frame and skip the ones that came meanwhile, not
work through a queue of old frames and fall further and further behind the visitor.
"""

import itertools
import statistics

import pytest

from tests.browser_support import needs_chromium, streamed_live_frames

pytestmark = [pytest.mark.browser, pytest.mark.slow, needs_chromium]


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
