"""One background training process at a time: start, progress, cancel, result.

The Train tab launches fine-tuning here instead of in the web server's threads: the job runs in a separate
process (multiprocessing "spawn", so it shares no torch state with the server), with one torch thread and a
lower scheduling priority, so the live camera keeps a core. The server keeps the job's state (progress,
curves, log, result), so every browser and every reload sees the same job.

Files: a job trains into a hidden folder ``runs_dir/.job-<id>/`` and, only when it has finished, its
checkpoint is renamed into ``runs_dir/<name>`` (a fresh name, never over an existing folder). A cancelled or
crashed job's folder is removed, so no half-written checkpoint is ever visible.

    jobs = manager_for("runs")
    jobs.start([TrainConfig(data="shapes", init_from="checkpoints/x", epochs=3)], name="my-model")
    jobs.status()   # JobStatus: state, epoch, step, elapsed, remaining, history, log, error, output_dir
    jobs.cancel()
"""

from __future__ import annotations

import atexit
import json
import multiprocessing as mp
import os
import queue as queue_module
import re
import shutil
import signal
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from core.errors import CheckpointError, JobError, UserError

# ---------------------------------------------------------------------------------------------------------------
# Setup

PREVIOUS_PHASE = "@previous"  # init_from of a later phase: fine-tune what the phase before it produced
JOB_THREADS = 1  # torch threads for the job: the machine has 2 cores and the live camera needs one
JOB_NICENESS = 19  # the lowest priority: the web server (visitors' live frames) always comes first
CANCEL_GRACE_SECONDS = 3.0  # a step or a validation pass normally ends within this; then the process is ended
MAX_CURVE_POINTS = 1000  # step-level train-loss points kept for the live curve (thinned beyond this)
MAX_LOG_LINES = 300
WATCHDOG_SECONDS = 1.0  # how often the job checks that the app that started it is still there
JOB_FILE = "job.json"  # in a job's working folder: its process id, so a restarted app can end an orphan
# In a finished model's folder: which job made it, of which kind, for whom (its owner key). A model made in the app
# is one holding this file; only those can be deleted from the app (never a shipped or command-line checkpoint).
ORIGIN_FILE = "origin.json"
STATES = ("idle", "starting", "running", "cancelling", "done", "cancelled", "failed")


@dataclass
class JobStatus:
    """A snapshot of the current (or last) job, plain data for the UI.

    history: one dict per finished epoch {"phase", "epoch", "train_loss", "train_acc", "val_loss", "val_acc",
      "mean_abs_weight", ...}.
    baselines: a fine-tuning phase's starting network, before its first step: {"phase", "val_loss", "val_acc",
      "val_images", "mean_abs_weight"} (an estimate on a subset of the validation images, see core.train).
    curve: step-level points {"phase", "x" (epochs done, fractional), "loss", "acc"} of the running train metrics.
    version: grows with every change, so a UI can skip redrawing when nothing happened.
    """

    id: str | None = None
    name: str = ""
    kind: str = "train"  # "train" or "teach"
    state: str = "idle"
    phase: int = 0
    phases: int = 0
    epoch: int = 0
    epochs: int = 0
    step: int = 0
    steps_per_epoch: int = 0
    started: float | None = None  # time.time() at launch
    finished: float | None = None
    remaining: float | None = None  # seconds, the training loop's estimate for the current phase
    classes: list[str] = field(default_factory=list)
    history: list[dict] = field(default_factory=list)
    baselines: list[dict] = field(default_factory=list)
    curve: list[dict] = field(default_factory=list)
    log: list[str] = field(default_factory=list)
    error: str | None = None
    output_dir: str | None = None  # the finished checkpoint folder (state "done")
    val_acc: float | None = None  # the finished model's validation top-1
    pid: int | None = None  # the training process (for benchmarks that pause it to compare latencies)
    owner: str | None = None  # who started it (a browser session's key); None: the presenter or a script
    version: int = 0

    @property
    def busy(self) -> bool:
        """True while a process is starting, training or being stopped."""
        return self.state in ("starting", "running", "cancelling")

    @property
    def elapsed(self) -> float:
        """Seconds since launch (until the end, once finished)."""
        if self.started is None:
            return 0.0
        return (self.finished or time.time()) - self.started


def job_slug(name: str) -> str:
    """A safe folder name from a user's model name: ``"My keys!"`` -> ``"my-keys"``. Raises ConfigError if empty."""
    from core.errors import ConfigError

    slug = re.sub(r"[^a-z0-9._-]+", "-", name.strip().lower()).strip("-._")[:60]
    if not slug:
        raise ConfigError(f"the model name {name!r} has no letters or digits; give it a name like 'my-keys'")
    return slug


def unique_dir(parent: Path, slug: str) -> Path:
    """``parent/slug``, or ``parent/slug-2``, ``-3`` ... whichever does not exist yet."""
    candidate, n = parent / slug, 1
    while candidate.exists():
        n += 1
        candidate = parent / f"{slug}-{n}"
    return candidate


# ---------------------------------------------------------------------------------------------------------------
# The child process


def _watch_parent(parent: int) -> None:
    """End this process when the app that started it is gone (killed, even with -9): a job must not outlive the app,
    which alone can publish its result. An orphan is adopted by another process, so the parent id changes."""
    while True:
        time.sleep(WATCHDOG_SECONDS)
        if os.getppid() != parent:
            os._exit(1)


def _child_main(phases: list, events, cancel, runner: Callable, parent: int | None = None) -> None:
    """Run each phase's training in turn (in the spawned process) and report through ``events``."""
    if parent is not None:
        if os.getppid() != parent:  # the app died while this process was starting
            os._exit(1)
        threading.Thread(target=_watch_parent, args=(parent,), name="parent-watchdog", daemon=True).start()
    try:
        os.nice(JOB_NICENESS)
    except OSError:  # not permitted on some hosts: the job then competes on equal terms
        pass
    from core.train import Cancelled

    try:
        for i, cfg in enumerate(phases):
            def report(event: dict, _i: int = i) -> None:
                events.put({**event, "phase": _i + 1, "phases": len(phases)})

            runner(cfg, on_progress=report, should_stop=cancel.is_set)
        events.put({"event": "finished"})
    except Cancelled:
        events.put({"event": "cancelled"})
    except UserError as err:
        events.put({"event": "error", "message": str(err)})
    except BaseException as err:  # a bug or resource failure: the message goes to the tab, details to the log
        events.put({"event": "error", "message": f"{type(err).__name__}: {err}", "traceback": traceback.format_exc()})


def _default_runner(cfg, on_progress, should_stop):
    from core.train import train

    return train(cfg, on_progress=on_progress, should_stop=should_stop)


# ---------------------------------------------------------------------------------------------------------------
# The manager (in the server process)


class JobManager:
    """Runs at most one training process at a time and keeps its state. Thread-safe.

    runs_dir: where finished checkpoints go (and the hidden working folders of running jobs).
    runner: ``runner(cfg, on_progress, should_stop)`` run in the child for each phase; defaults to
      ``core.train.train``. It must be importable by name (spawned processes cannot receive closures).
    """

    def __init__(self, runs_dir: str | Path, runner: Callable | None = None):
        self.runs_dir = Path(runs_dir)
        self.runner = runner or _default_runner
        self._lock = threading.Lock()
        self._status = JobStatus()
        self._process = None
        self._cancel = None
        self._cancel_requested_at: float | None = None
        self._workdir: Path | None = None
        self._remove_stale_workdirs()

    # -- public API

    def start(self, phases: Sequence, name: str, kind: str = "train", snapshot_data: bool = False,
              owner: str | None = None) -> str:
        """Launch a job of one or more TrainConfig phases, run in order; returns the job id.

        A later phase whose ``init_from`` is PREVIOUS_PHASE fine-tunes the previous phase's result. Output
        folders and thread counts are set here; the final checkpoint becomes ``runs_dir/<name>`` (made unique).
        snapshot_data: copy the (folder) dataset into the job's folder first, so it may change meanwhile.
        owner: who starts it (a browser session's key), so only they (or the presenter) may cancel it.
        Raises JobError when a job is running, ConfigError / DataError / CheckpointError for bad input
        (checked here, before any process starts, so the message is immediate).
        """
        from core.train import validate_config

        if not phases:
            raise JobError("nothing to train: no phases given")
        slug = job_slug(name)
        for cfg in phases:
            validate_config(cfg)
        for i, cfg in enumerate(phases):
            self._check_inputs(cfg, first=i == 0)
        with self._lock:
            if self._status.busy:
                s = self._status
                raise JobError(f"a training job is already running ({s.name}, epoch {s.epoch}/{s.epochs or '?'}); "
                               "wait for it to finish or cancel it first")
            job_id = uuid.uuid4().hex[:8]
            workdir = self.runs_dir / f".job-{job_id}"
            workdir.mkdir(parents=True)
            try:
                planned = self._plan(phases, workdir, slug, snapshot_data)
                ctx = mp.get_context("spawn")
                events, cancel = ctx.Queue(), ctx.Event()
                process = ctx.Process(target=_child_main, args=(planned, events, cancel, self.runner, os.getpid()),
                                      name=f"train-{slug}", daemon=True)
                self._status = JobStatus(id=job_id, name=slug, kind=kind, state="starting", phases=len(planned),
                                         started=time.time(), version=self._status.version + 1, owner=owner,
                                         log=[f"starting {kind} job {slug!r} ({len(planned)} phase{'s' * (len(planned) > 1)})"])
                process.start()
                (workdir / JOB_FILE).write_text(json.dumps({"pid": process.pid, "app_pid": os.getpid()}))
            except BaseException:
                shutil.rmtree(workdir, ignore_errors=True)
                self._status = replace(self._status, state="failed", error="the training process could not be started")
                raise
            self._status.pid = process.pid
            self._process, self._cancel, self._workdir = process, cancel, workdir
            self._cancel_requested_at = None
        threading.Thread(target=self._monitor, args=(job_id, process, events, workdir, slug),
                         name=f"job-monitor-{job_id}", daemon=True).start()
        return job_id

    def status(self) -> JobStatus:
        """A copy of the current job's state (safe to read while the job runs)."""
        with self._lock:
            s = self._status
            return replace(s, history=list(s.history), baselines=list(s.baselines), curve=list(s.curve), log=list(s.log),
                           classes=list(s.classes))

    def cancel(self, owner: str | None = None) -> JobStatus:
        """Ask the running job to stop. It stops at its next step, or is ended after a few seconds.

        owner: who asks (a browser session's key), who may cancel only their own job; None is the presenter or a
        script, who may cancel any.
        Raises JobError when no job is running, or it belongs to someone else. Use ``wait`` to block until it has
        stopped.
        """
        with self._lock:
            if not self._status.busy or self._cancel is None:
                raise JobError("no training job is running, so there is nothing to cancel")
            if owner is not None and self._status.owner != owner:
                raise JobError("this training job was started by someone else; only they (or the presenter) can "
                               "cancel it. It ends by itself at its time limit.")
            if self._status.state != "cancelling":
                self._cancel.set()
                self._cancel_requested_at = time.time()
                self._update(state="cancelling", log_line="cancelling...")
        return self.status()

    def wait(self, timeout: float | None = None) -> JobStatus:
        """Block until the job is no longer busy (or ``timeout`` seconds pass); returns the status."""
        deadline = None if timeout is None else time.time() + timeout
        while self.status().busy and (deadline is None or time.time() < deadline):
            time.sleep(0.05)
        return self.status()

    # -- internals

    def _check_inputs(self, cfg, first: bool) -> None:
        """Fail fast on missing inputs, in the server, with the same messages the training would give."""
        from core.data import resolve_source

        if cfg.init_from and cfg.init_from != PREVIOUS_PHASE:
            if not (Path(cfg.init_from) / "config.json").is_file():
                raise CheckpointError(f"no checkpoint at {cfg.init_from} to start from")
        elif cfg.init_from == PREVIOUS_PHASE and first:
            from core.errors import ConfigError

            raise ConfigError("the first phase has no previous phase to start from")
        resolve_source(cfg.data)

    def _plan(self, phases: Sequence, workdir: Path, slug: str, snapshot_data: bool) -> list:
        """The phases with output folders inside ``workdir`` and the job's thread count."""
        planned, previous = [], None
        copies: dict[str, str] = {}
        for i, cfg in enumerate(phases):
            out = workdir / (slug if i == len(phases) - 1 else f"phase{i + 1}")
            data = cfg.data
            if snapshot_data and Path(data).is_dir():
                if data not in copies:
                    copies[data] = str(workdir / "data" / f"{len(copies)}")
                    shutil.copytree(data, copies[data])
                data = copies[data]
            init_from = str(previous) if cfg.init_from == PREVIOUS_PHASE else cfg.init_from
            planned.append(replace(cfg, output_dir=str(out), data=data, init_from=init_from, resume=False,
                                   threads=cfg.threads or JOB_THREADS))
            previous = out
        return planned

    def _remove_stale_workdirs(self) -> None:
        """Working folders left by a server that was killed mid-job hold nothing usable; a job process still running
        from it (its watchdog ends it within a second of the app's death, but a restart may be quicker) is ended
        first."""
        if self.runs_dir.is_dir():
            for d in self.runs_dir.glob(".job-*"):
                _end_orphan(d / JOB_FILE)
                shutil.rmtree(d, ignore_errors=True)
            for d in self.runs_dir.glob(".deleted-*"):  # a delete_made_model the server did not finish
                shutil.rmtree(d, ignore_errors=True)

    def shutdown(self, timeout: float = CANCEL_GRACE_SECONDS) -> None:
        """End the running job (if any) now and remove its working folder: the app is stopping. Called at exit."""
        with self._lock:
            process, workdir, cancel = self._process, self._workdir, self._cancel
            if process is None:
                return
            self._cancel_requested_at = time.time()
        if cancel is not None:
            cancel.set()
        process.join(timeout)
        if process.is_alive():
            process.kill()
            process.join(2)
        if workdir is not None:
            shutil.rmtree(workdir, ignore_errors=True)

    def _update(self, log_line: str | None = None, **changes) -> None:
        """Apply changes to the status (caller holds the lock)."""
        s = self._status
        for k, v in changes.items():
            setattr(s, k, v)
        if log_line:
            s.log.append(log_line)
            del s.log[:-MAX_LOG_LINES]
        s.version += 1

    def _apply(self, event: dict) -> None:
        """Fold one progress event from the child into the status (caller holds the lock)."""
        s, kind = self._status, event.get("event")
        phase = event.get("phase", s.phase)
        prefix = f"[phase {phase}/{event.get('phases')}] " if event.get("phases", 1) > 1 else ""
        if kind == "start":
            self._update(state="running" if s.state == "starting" else s.state, phase=phase, epoch=0, step=0,
                         epochs=event["epochs"], steps_per_epoch=event["steps_per_epoch"], classes=event["classes"],
                         log_line=f"{prefix}training {event['parameters']:,} parameters on {event['train_images']:,} "
                                  f"images of {len(event['classes'])} classes, validating on {event['val_images']:,}")
            if event.get("note"):
                self._update(log_line=f"{prefix}note: {event['note']}")
        elif kind == "step":
            x = event["epoch"] - 1 + event["step"] / event["steps_per_epoch"]
            s.curve.append({"phase": phase, "x": x, "loss": event["loss"], "acc": event["acc"]})
            if len(s.curve) > MAX_CURVE_POINTS:
                s.curve[:] = s.curve[::2]
            self._update(epoch=event["epoch"], step=event["step"], remaining=event.get("remaining"))
        elif kind == "baseline":
            s.baselines.append({"phase": phase, **{k: event.get(k) for k in ("val_loss", "val_acc", "val_images",
                                                                          "mean_abs_weight")}})
            self._update(log_line=f"{prefix}before the first step: val loss {event['val_loss']:.3f} "
                                  f"acc {event['val_acc']:.1%} ({event['val_images']:,} validation images)")
        elif kind == "epoch":
            row = {k: event[k] for k in ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds")}
            row["mean_abs_weight"] = event.get("mean_abs_weight")
            s.history.append({"phase": phase, **row})
            self._update(epoch=event["epoch"], step=s.steps_per_epoch,
                         log_line=f"{prefix}epoch {event['epoch']}/{event['epochs']}: train loss {event['train_loss']:.3f} "
                                  f"acc {event['train_acc']:.1%} | val loss {event['val_loss']:.3f} "
                                  f"acc {event['val_acc']:.1%} | {event['seconds']:.0f}s")
        elif kind == "done":
            val = (event.get("metrics") or {}).get("val") or {}
            note = f" (stopped: {event['stopped_early']})" if event.get("stopped_early") else ""
            self._update(val_acc=val.get("top1"), remaining=0.0,
                         log_line=f"{prefix}phase finished{note}: validation top-1 "
                                  f"{100 * val['top1']:.1f}%" if "top1" in val else f"{prefix}phase finished{note}")
        elif kind == "error":
            self._update(error=event["message"], log_line=f"error: {event['message']}")
            if event.get("traceback"):
                s.log.extend(event["traceback"].rstrip().splitlines()[-12:])

    def _monitor(self, job_id: str, process, events, workdir: Path, slug: str) -> None:
        """Drain progress events until the process ends, then publish or discard its result."""
        finished = False
        while True:
            try:
                event = events.get(timeout=0.2)
            except queue_module.Empty:
                event = None
            except (EOFError, OSError):  # the queue broke because the process was ended
                event = None
            if event is not None:
                finished |= event.get("event") == "finished"
                with self._lock:
                    self._apply(event)
                continue
            if not process.is_alive():
                break
            self._enforce_cancel(process)
        process.join(timeout=5)
        for q in (events,):
            q.close()
        with self._lock:
            cancelled = self._cancel_requested_at is not None
            exitcode = process.exitcode
            try:
                if finished and not cancelled and exitcode == 0:
                    final = self._publish(workdir, slug)
                    self._update(state="done", output_dir=str(final), finished=time.time(),
                                 log_line=f"saved {final.name} in {self.runs_dir} after {time.time() - self._status.started:.0f}s")
                elif cancelled:
                    self._update(state="cancelled", finished=time.time(), log_line="cancelled; nothing was saved")
                else:
                    error = self._status.error or f"the training process stopped unexpectedly (exit code {exitcode})"
                    self._update(state="failed", error=error, finished=time.time(),
                                 log_line=None if self._status.error else f"error: {error}")
            except OSError as err:
                self._update(state="failed", error=f"could not save the model: {err}", finished=time.time())
            finally:
                shutil.rmtree(workdir, ignore_errors=True)
                self._process = self._cancel = self._workdir = None

    def _enforce_cancel(self, process) -> None:
        """A step can take long (a big batch, a validation pass, loading data): end the process if needed."""
        asked = self._cancel_requested_at
        if asked is None:
            return
        waited = time.time() - asked
        if waited > CANCEL_GRACE_SECONDS + 2:
            process.kill()
        elif waited > CANCEL_GRACE_SECONDS:
            process.terminate()

    def _publish(self, workdir: Path, slug: str) -> Path:
        """Move the finished checkpoint into runs_dir under a name not yet taken (an atomic rename)."""
        src = workdir / slug
        if not (src / "model.safetensors").is_file():
            raise OSError(f"the job finished but wrote no checkpoint in {src}")
        s = self._status
        (src / ORIGIN_FILE).write_text(json.dumps({"job": s.id, "kind": s.kind, "owner": s.owner,
                                                   "finished": time.time()}))
        final = unique_dir(self.runs_dir, slug)
        os.replace(src, final)
        return final


# ---------------------------------------------------------------------------------------------------------------
# Models made in the app


def model_origin(folder: str | Path) -> dict | None:
    """What ORIGIN_FILE says about a model folder ({"job", "kind", "owner", "finished"}), or None for a model not made
    by a job of the app (shipped, or trained at the command line)."""
    try:
        origin = json.loads((Path(folder) / ORIGIN_FILE).read_text())
    except (OSError, ValueError):
        return None
    return origin if isinstance(origin, dict) else None


def made_models(runs_dir: str | Path) -> list[Path]:
    """The checkpoint folders in ``runs_dir`` that jobs of the app made (taught or fine-tuned), newest first."""
    from core.checkpoint import list_checkpoints

    made = [(p, origin) for p in list_checkpoints(runs_dir) if (origin := model_origin(p)) is not None]
    return [p for p, _ in sorted(made, key=lambda po: -float(po[1].get("finished") or 0))]


def delete_made_model(runs_dir: str | Path, folder: str | Path, owner: str | None) -> str:
    """Delete a model a job of the app made; returns its name.

    owner: who asks (a browser's key), who may delete only the models of their own jobs; None is the presenter, who
    may delete any model made in the app. Shipped and command-line checkpoints are never deleted.
    Raises CheckpointError for a folder that is not such a model, JobError for someone else's.
    """
    runs = Path(runs_dir).resolve()
    path = Path(folder)
    if path.parent.resolve() != runs or path.name.startswith(".") or not path.is_dir():
        raise CheckpointError(f"{path.name or folder!r} is not a model made in this app; only those can be deleted here")
    origin = model_origin(path)
    if origin is None:
        raise CheckpointError(f"{path.name} was not made in this app (a shipped or command-line model): it stays")
    if owner is not None and origin.get("owner") != owner:
        raise JobError(f"{path.name} was made in another browser; only that browser (or the presenter) can delete it")
    trash = runs / f".deleted-{path.name}-{uuid.uuid4().hex[:8]}"
    os.replace(path, trash)  # gone from every menu at once, then removed
    shutil.rmtree(trash, ignore_errors=True)
    return path.name


def _end_orphan(job_file: Path) -> None:
    """End the job process ``job_file`` names if it is still alive and still a job of a (dead) app of ours."""
    try:
        info = json.loads(job_file.read_text())
        pid, app_pid = int(info["pid"]), int(info["app_pid"])
        if app_pid == os.getpid() or not _is_our_job(pid, app_pid):
            return
        os.kill(pid, signal.SIGKILL)
    except (OSError, ValueError, KeyError, TypeError):
        return


def _is_our_job(pid: int, app_pid: int) -> bool:
    """True when ``pid`` is still a multiprocessing child (not a reused process id) and its app ``app_pid`` is gone."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"--multiprocessing-fork" in cmdline and not Path(f"/proc/{app_pid}").exists()


_MANAGERS: dict[Path, JobManager] = {}
_MANAGERS_LOCK = threading.Lock()


def manager_for(runs_dir: str | Path) -> JobManager:
    """The one JobManager of this server for ``runs_dir`` (so every tab and browser shares one job)."""
    key = Path(runs_dir).resolve()
    with _MANAGERS_LOCK:
        if key not in _MANAGERS:
            _MANAGERS[key] = JobManager(key)
            atexit.register(_MANAGERS[key].shutdown)
        return _MANAGERS[key]
