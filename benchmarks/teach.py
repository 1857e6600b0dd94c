"""Teach-new-classes speed and live-frame latency while a job trains.

    python benchmarks/teach.py --json

1. Seconds from "train" (start_teach) to a usable model for 2 classes x 20 generated snapshots, on the
   frozen backbone of checkpoints/cifar10-resnet (or the first checkpoint found, named in the output);
   "usable" is checked on 20 fresh held-out images per class.
2. The median latency of one live frame (preprocess + predict, + Grad-CAM when core.explain offers it)
   while a background job trains and while it is paused (idle), in alternating blocks, and their ratio.

Prints one JSON object (with --json) or a short summary.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from core.checkpoint import CHECKPOINTS_DIR, list_checkpoints, load_checkpoint  # noqa: E402
from core.jobs import JobManager  # noqa: E402
from core.teach import TEACH_HEAD, CaptureStore, start_teach, teach_phases  # noqa: E402

PER_CLASS = 20
CLASSES = {"mug": "circle", "keys": "cross"}  # class name -> generated shape
FRAME_SIZE = 480  # a webcam frame, 640x480
MIN_FRAMES = 5  # per block


def pick_base() -> Path:
    preferred = CHECKPOINTS_DIR / "cifar10-resnet"
    if (preferred / "model.safetensors").is_file():
        return preferred
    found = list_checkpoints(CHECKPOINTS_DIR)
    if not found:
        sys.exit("no checkpoint in checkpoints/ to teach from")
    return found[0]


def snapshot(kind: str, rng: np.random.Generator) -> np.ndarray:
    """A webcam-like 640x480 frame with a generated object in its centre square."""
    from tests.fixtures import shape_image

    frame = rng.integers(40, 160, (FRAME_SIZE, 640, 3), dtype=np.uint8)
    obj = np.asarray(shape_image(kind, FRAME_SIZE, rng))
    frame[:, 80:560] = obj
    return frame


def live_frame_function(ckpt):
    """One live frame: preprocess, predict and (when core.explain exists) Grad-CAM. Returns (fn, description)."""
    from core.predict import preprocess, probabilities

    gradcam = None
    try:
        from core import explain  # written by another issue; used when present

        gradcam = getattr(explain, "gradcam", None)
    except ImportError:
        pass

    def predict_only(frame):
        pre = preprocess(frame, ckpt)
        return probabilities(ckpt, pre.tensor)

    if gradcam is None:
        return predict_only, "preprocess+predict"

    def with_cam(frame):
        pre = preprocess(frame, ckpt)
        probs = probabilities(ckpt, pre.tensor)
        gradcam(ckpt, pre.tensor, int(probs[0].argmax()))
        return probs

    try:
        with_cam(snapshot("circle", np.random.default_rng(0)))
        return with_cam, "preprocess+predict+gradcam"
    except Exception:  # an API we did not guess: measure what we can, and say so
        return predict_only, "preprocess+predict (core.explain.gradcam signature not recognised)"


def frame_latencies(fn, frames: list[np.ndarray], seconds: float) -> list[float]:
    """Run ``fn`` over ``frames`` repeatedly for at least ``seconds`` (and MIN_FRAMES frames); ms per frame."""
    out, start, i = [], time.time(), 0
    while time.time() - start < seconds or len(out) < MIN_FRAMES:
        t = time.perf_counter()
        fn(frames[i % len(frames)])
        out.append(1000 * (time.perf_counter() - t))
        i += 1
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--latency-seconds", type=float, default=8.0, help="how long to sample frames in each state")
    parser.add_argument("--blocks", type=int, default=8, help="alternating paused/training blocks per state")
    args = parser.parse_args(argv)

    base = pick_base()
    rng = np.random.default_rng(0)
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="wtcs-teach-bench-") as tmp:
        tmp = Path(tmp)
        store = CaptureStore(tmp / "captures")
        store.set_classes(list(CLASSES))
        for name, kind in CLASSES.items():
            for _ in range(PER_CLASS):
                store.add(name, snapshot(kind, rng))
        jobs = JobManager(tmp / "runs")

        # -- 1. teach: from the click to a model on disk
        t0 = time.time()
        start_teach(jobs, store, base, "bench-teach")
        status = jobs.wait(timeout=600)
        teach_seconds = time.time() - t0
        if status.state != "done":
            print(json.dumps({"error": status.error or status.state, "log": status.log[-5:]}))
            return 1
        model = load_checkpoint(status.output_dir)
        from core.predict import predict_topk

        heldout_rng = np.random.default_rng(99)
        correct = sum(predict_topk(model, snapshot(kind, heldout_rng), k=1).top[0][0] == name
                      for name, kind in CLASSES.items() for _ in range(PER_CLASS))
        heldout_top1 = correct / (PER_CLASS * len(CLASSES))

        # -- 2. live-frame latency while a job trains vs idle. Other processes may load this machine too, and
        # that load drifts; so the comparison is paired: one job runs throughout, and in alternate blocks it
        # is paused (SIGSTOP, = idle) or training (SIGCONT). The live app serves the shipped model.
        ckpt = load_checkpoint(base)
        fn, pipeline = live_frame_function(ckpt)
        frames = [snapshot(k, rng) for k in ("circle", "cross", "square", "triangle")]
        fn(frames[0])  # warm-up
        long_job = [replace_epochs(cfg, 1000) for cfg in teach_phases(store.root, base, finetune=False)]
        jobs.start(long_job, "bench-busy", kind="teach", snapshot_data=True)
        deadline = time.time() + 120
        while not jobs.status().curve and time.time() < deadline:  # measure only once it really trains
            time.sleep(0.1)
        pid, busy_state = jobs.status().pid, jobs.status().state
        idle, busy = [], []
        try:
            for block in range(2 * args.blocks):
                paused = block % 2 == 0
                os.kill(pid, signal.SIGSTOP if paused else signal.SIGCONT)
                time.sleep(0.3)  # let the scheduler settle into the new state
                (idle if paused else busy).extend(frame_latencies(fn, frames, args.latency_seconds / args.blocks))
        finally:
            os.kill(pid, signal.SIGCONT)
            jobs.cancel()
            jobs.wait(timeout=30)

    result = {
        "base": str(base.relative_to(CHECKPOINTS_DIR.parent)) if base.is_relative_to(CHECKPOINTS_DIR.parent) else str(base),
        "classes": len(CLASSES), "images_per_class": PER_CLASS,
        "teach_seconds": round(teach_seconds, 2),
        "teach_epochs": TEACH_HEAD["epochs"],
        "val_top1": status.val_acc, "heldout_top1": heldout_top1,
        "frame_pipeline": pipeline,
        "frame_ms_idle_median": round(statistics.median(idle), 2),
        "frame_ms_during_job_median": round(statistics.median(busy), 2),
        "latency_ratio": round(statistics.median(busy) / statistics.median(idle), 2),
        "frames_idle": len(idle), "frames_during_job": len(busy), "job_state_while_measuring": busy_state,
        "loadavg_1min_at_start": round(load_before, 2), "cpu_count": os.cpu_count(),
    }
    if args.json:
        print(json.dumps(result))
    else:
        for k, v in result.items():
            print(f"{k:>28}: {v}")
    return 0


def replace_epochs(cfg, epochs: int):
    """The same phase, running long enough to stay busy while frames are measured (cancelled after)."""
    from dataclasses import replace

    return replace(cfg, epochs=epochs, max_minutes=None)


if __name__ == "__main__":
    sys.exit(main())
