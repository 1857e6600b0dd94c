"""A training job ends with the app that started it, and a restarted app leaves nothing orphaned."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.config import TrainConfig
from core.jobs import JOB_FILE, JobManager

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def _sleep_runner(cfg, on_progress, should_stop):
    """A job that trains for a long time (until cancelled)."""
    while not should_stop():
        time.sleep(0.1)


APP = """
import sys, time
from core.config import TrainConfig
from core.jobs import JobManager
from tests.test_job_lifetime import _sleep_runner

jobs = JobManager(sys.argv[1], runner=_sleep_runner)
jobs.start([TrainConfig(data=sys.argv[2])], name="long")
print(jobs.status().pid, flush=True)
time.sleep(120)
"""


def _gone(pid: int, timeout: float) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        if Path(f"/proc/{pid}/stat").exists() and Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z":
            return True  # a zombie: ended, waiting for its new parent to collect it
        time.sleep(0.1)
    return False


def test_the_job_process_dies_when_the_app_is_killed_and_a_restart_cleans_up(tmp_path):
    runs = tmp_path / "runs"
    app = subprocess.Popen([sys.executable, "-c", APP, str(runs), str(tmp_path)], cwd=ROOT, stdout=subprocess.PIPE,
                           text=True)
    try:
        job_pid = int(app.stdout.readline())
        assert (next(runs.glob(".job-*")) / JOB_FILE).is_file()
        app.send_signal(signal.SIGKILL)  # no clean-up code runs in the app
        app.wait(10)
        assert _gone(job_pid, timeout=10), "the job outlived the app"
    finally:
        app.kill()
        app.wait()
    JobManager(runs)  # the restarted app
    assert not list(runs.glob(".job-*"))


def test_a_restarted_app_ends_a_job_its_predecessor_left_running(tmp_path):
    orphan = mp.get_context("spawn").Process(target=time.sleep, args=(60,), daemon=True)
    orphan.start()
    dead_app = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                              check=True)
    workdir = tmp_path / "runs" / ".job-12345678"
    workdir.mkdir(parents=True)
    (workdir / JOB_FILE).write_text(json.dumps({"pid": orphan.pid, "app_pid": int(dead_app.stdout)}))
    JobManager(tmp_path / "runs")
    orphan.join(10)
    assert not orphan.is_alive() and not workdir.exists()


def test_shutdown_ends_the_running_job_and_removes_its_folder(tmp_path):
    jobs = JobManager(tmp_path / "runs", runner=_sleep_runner)
    jobs.start([TrainConfig(data=str(tmp_path))], name="long")
    pid = jobs.status().pid
    jobs.shutdown()
    assert _gone(pid, timeout=10) and not list((tmp_path / "runs").glob(".job-*"))


def test_only_the_visitor_who_started_a_job_or_the_presenter_can_cancel_it(tmp_path):
    from core.errors import JobError

    jobs = JobManager(tmp_path / "runs", runner=_sleep_runner)
    jobs.start([TrainConfig(data=str(tmp_path))], name="mine", owner="visitor-a")
    try:
        with pytest.raises(JobError, match="someone else"):
            jobs.cancel(owner="visitor-b")
        assert jobs.status().state in ("starting", "running") and jobs.status().owner == "visitor-a"
        jobs.cancel(owner="visitor-a")
        assert jobs.wait(30).state == "cancelled"
    finally:
        jobs.shutdown()
