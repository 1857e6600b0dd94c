"""Teaching new classes from camera snapshots: accuracy and speed per backbone, and live-frame latency while a job trains.

    python benchmarks/teach.py --json [--bases cifar10-resnet,imagenet-mobilenetv2] [--finetune] [--latency]

1. For each base network (the old CIFAR-10 backbone against the ImageNet-pretrained one, in one run), 2 and 5 new
   classes taught from 5 and 20 snapshots each, for ``--draws`` different sets of classes. Snapshots and held-out
   frames are made as a camera would take them (core.camera: an everyday50 validation photo held up over another,
   blurred, photo on a 640x480 frame, with blur, light, noise and JPEG); the held-out frames use other photos than the
   snapshots (30 a class). Reports the held-out accuracy of the live headline ("not sure" counts as wrong) and of
   the most probable class, each draw's and their mean, and the seconds from "Teach" (start_teach) to a model on disk.
   With --finetune, the 20-snapshot draws are also taught with the optional second phase (every layer fine-tuned).
   For a base that already knows the taught classes (the ImageNet network knows all of everyday50's), its own answer
   among them on the same frames is reported too: how well its features see these frames before any teaching.
2. "None of these": 2 classes x 20 snapshots taught with and without a background class ("nothing", snapshots of
   empty scenes); the share of frames of neither class (empty scenes and other everyday50 objects) the live view
   answers with "not sure" or "nothing".
3. With --latency: the median latency of one live frame while a background job trains and while it is paused.

Prints one JSON object (with --json) or a short summary.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from core.camera import camera_frame, empty_frame  # noqa: E402
from core.checkpoint import CHECKPOINTS_DIR, load_checkpoint  # noqa: E402
from core.data import DATA_DIR, load_train_val  # noqa: E402
from core.explain import unsure_threshold  # noqa: E402
from core.jobs import JobManager  # noqa: E402
from core.predict import predict_topk, preprocess, probabilities  # noqa: E402
from core.teach import BACKGROUND_CLASS, TEACH_FINETUNE, TEACH_HEAD, CaptureStore, start_teach, teach_phases  # noqa: E402
from core.train import class_key  # noqa: E402

HELDOUT = 30  # held-out frames per class: the validation photos of a class not used as snapshots (50 - 20)
POOL = 15  # classes a draw is taken from (5 classes a draw); the photos of the others make the backgrounds
MIN_FRAMES = 5  # per latency block


def photos_by_class(val) -> dict[str, list[np.ndarray]]:
    out: dict[str, list[np.ndarray]] = {}
    for img, label in zip(val.images, val.labels.tolist(), strict=True):
        out.setdefault(val.classes[label], []).append(img.permute(1, 2, 0).numpy())
    return out


def frames_of(photos: list[np.ndarray], backgrounds: list[np.ndarray], rng: np.random.Generator) -> list[np.ndarray]:
    return [camera_frame(p, backgrounds[rng.integers(len(backgrounds))], rng) for p in photos]


def teach_once(base: Path, classes: dict[str, list[np.ndarray]], tmp: Path, tag: str,
               finetune: bool = False) -> tuple[float, Path | None, str]:
    """Teach ``classes`` (name -> snapshots) on ``base`` (``finetune``: with the second phase); (seconds from start to
    a model on disk, its folder, state)."""
    store = CaptureStore(tmp / f"captures-{tag}")
    store.set_classes(list(classes))
    for name, snaps in classes.items():
        for snap in snaps:
            store.add(name, snap)
    jobs = JobManager(tmp / f"runs-{tag}")
    t0 = time.time()
    start_teach(jobs, store, base, f"bench-{tag}", finetune=finetune)
    status = jobs.wait(timeout=600)
    return time.time() - t0, status.output_dir if status.state == "done" else None, status.error or status.state


def answers(model_dir: Path, frames: list[np.ndarray]) -> list[tuple[str, bool]]:
    """For each frame the most probable class and whether the live headline names it (False: "not sure", under the
    model's threshold)."""
    ckpt = load_checkpoint(model_dir)
    threshold = unsure_threshold(ckpt)
    out = []
    for f in frames:
        name, p = predict_topk(ckpt, f, k=1).top[0]
        out.append((name, p >= threshold))
    return out


def known_accuracy(ckpt, frames: list[np.ndarray], truth: list[str]) -> float | None:
    """Accuracy of the base network's own answer restricted to the taught classes (the most probable of them), when it
    was trained on all of them; else None."""
    index = {class_key(c): i for i, c in enumerate(ckpt.classes)}
    taught = sorted(set(truth))
    if not all(class_key(c) in index for c in taught):
        return None
    rows = [index[class_key(c)] for c in taught]
    right = 0
    for frame, t in zip(frames, truth, strict=True):
        probs = probabilities(ckpt, preprocess(frame, ckpt).tensor)[0, rows]
        right += taught[int(probs.argmax())] == t
    return round(right / len(truth), 4)


def scores(said: list[tuple[str, bool]], truth: list[str]) -> dict:
    """Held-out accuracy of the live headline ("not sure" is wrong), of the most probable class, and the "not sure"
    share."""
    n = len(truth)
    return {"heldout_top1": round(sum(sure and name == t for (name, sure), t in zip(said, truth, strict=True)) / n, 4),
            "heldout_top1_any": round(sum(name == t for (name, _), t in zip(said, truth, strict=True)) / n, 4),
            "heldout_not_sure": round(sum(not sure for _, sure in said) / n, 4)}


def live_frame_function(ckpt):
    """One live frame: preprocess, predict and (when core.explain exists) Grad-CAM. Returns (fn, description)."""

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
        with_cam(np.random.default_rng(0).integers(0, 255, (480, 640, 3), dtype=np.uint8))
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
    parser.add_argument("--bases", default="cifar10-resnet,imagenet-mobilenetv2", help="checkpoints to teach on")
    parser.add_argument("--data", default=str(DATA_DIR / "everyday50-train-jpg.tar.gz"), help="photos to make frames from")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--draws", type=int, default=3, help="sets of classes taught for each row (at most 3)")
    parser.add_argument("--finetune", action="store_true",
                        help="also teach the 20-snapshot draws with the second phase (every layer fine-tuned)")
    parser.add_argument("--latency", action="store_true", help="also measure live frames while a job trains")
    parser.add_argument("--latency-seconds", type=float, default=8.0, help="how long to sample frames in each state")
    parser.add_argument("--blocks", type=int, default=8, help="alternating paused/training blocks per state")
    args = parser.parse_args(argv)
    if args.draws < 1:
        parser.error("--draws must be at least 1")

    rng = np.random.default_rng(args.seed)
    _, val = load_train_val(args.data, 0.1, 0)
    photos = photos_by_class(val)
    names = sorted(photos)
    order = [names[i] for i in rng.permutation(len(names))]
    backgrounds = [p for c in order[POOL:] for p in photos[c][:5]]  # photos of classes never taught, blurred behind
    bases = [CHECKPOINTS_DIR / b for b in args.bases.split(",")]
    base_ckpts = {base: load_checkpoint(base) for base in bases}  # each base's own answers, loaded once
    rows, draws = [], []
    with tempfile.TemporaryDirectory(prefix="wtcs-teach-bench-") as tmp:
        tmp = Path(tmp)
        for n_classes in (2, 5):
            for per_class in (5, 20):
                for base in bases:
                    for finetune in (False, True) if args.finetune and per_class == 20 else (False,):
                        draws_here = []
                        for d in range(args.draws):
                            taught = order[(5 * d) % POOL:][:n_classes]
                            draw_rng = np.random.default_rng([args.seed, n_classes, per_class, d])  # same frames per base
                            snaps = {c: frames_of(photos[c][:per_class], backgrounds, draw_rng) for c in taught}
                            heldout = {c: frames_of(photos[c][-HELDOUT:], backgrounds, draw_rng) for c in taught}
                            frames, truth = [f for c in taught for f in heldout[c]], [c for c in taught for _ in heldout[c]]
                            tag = f"{base.name}-{n_classes}x{per_class}-{d}{'-ft' if finetune else ''}"
                            seconds, model_dir, state = teach_once(base, snaps, tmp, tag, finetune)
                            row = {"classes_taught": taught, "teach_seconds": round(seconds, 1), "state": state}
                            if model_dir:
                                row.update(scores(answers(model_dir, frames), truth))
                                shutil.rmtree(model_dir, ignore_errors=True)
                            if not finetune:
                                row["base_own_answer_top1"] = known_accuracy(base_ckpts[base], frames, truth)
                            draws_here.append(row)
                        done = [r for r in draws_here if "heldout_top1" in r]
                        summary = {"base": base.name, "classes": n_classes, "snapshots_per_class": per_class,
                                   "finetune": finetune, "draws": len(draws_here),
                                   "heldout_frames": len(done) * n_classes * HELDOUT,
                                   "teach_seconds_median": statistics.median(r["teach_seconds"] for r in draws_here),
                                   "states": sorted({r["state"] for r in draws_here})}
                        for key in ("heldout_top1", "heldout_top1_any", "heldout_not_sure"):
                            summary[key] = round(statistics.mean(r[key] for r in done), 4) if done else None
                        summary["heldout_top1_per_draw"] = [r.get("heldout_top1") for r in draws_here]
                        own = [r.get("base_own_answer_top1") for r in draws_here]
                        if not finetune and None not in own:
                            summary["base_own_answer_top1"] = round(statistics.mean(own), 4)
                        rows.append(summary)
                        draws += [{"base": base.name, "classes": n_classes, "snapshots_per_class": per_class,
                                   "finetune": finetune, **r} for r in draws_here]

        # -- "none of these": frames of neither class, taught with and without a background class
        taught = order[:2]
        snaps = {c: frames_of(photos[c][:20], backgrounds, rng) for c in taught}
        empties = [empty_frame(kind, rng, backgrounds[rng.integers(len(backgrounds))])
                   for kind in ("wall", "blurred", "hand") for _ in range(10)]
        others = frames_of([photos[c][-1] for c in order[POOL:POOL + 30]], backgrounds, rng)
        background_rows = []
        for base in bases:
            for with_background in (False, True):
                classes = dict(snaps)
                if with_background:
                    classes[BACKGROUND_CLASS] = [empty_frame(kind, rng, backgrounds[rng.integers(len(backgrounds))])
                                                 for kind in ("wall", "blurred", "hand") for _ in range(7)]
                tag = f"{base.name}-bg{int(with_background)}"
                seconds, model_dir, state = teach_once(base, classes, tmp, tag)
                row = {"base": base.name, "background_class": with_background, "state": state}
                if model_dir:
                    for label, frames in (("empty_frames", empties), ("other_objects", others)):
                        said = answers(model_dir, frames)
                        row[f"{label}_none_of_these"] = round(sum(not sure or name == BACKGROUND_CLASS for name, sure in said)
                                                              / len(said), 4)
                    heldout = [f for c in taught for f in frames_of(photos[c][-HELDOUT:], backgrounds, rng)]
                    row.update(scores(answers(model_dir, heldout), [c for c in taught for _ in range(HELDOUT)]))
                background_rows.append(row)

        result = {"teach": rows, "teach_draws": draws, "none_of_these": background_rows,
                  "teach_epochs": TEACH_HEAD["epochs"], "heldout_frames_per_class": HELDOUT, "cpu_count": os.cpu_count()}
        if args.finetune:
            result["finetune_phase"] = {k: TEACH_FINETUNE.get(k) for k in ("epochs", "lr", "freeze")}
        if args.latency:
            result["latency"] = latency_while_training(bases[-1], snaps, tmp, args)
    if args.json:
        print(json.dumps(result))
    else:
        for row in rows + background_rows:
            print(row)
    return 0


def latency_while_training(base: Path, snaps: dict[str, list[np.ndarray]], tmp: Path, args) -> dict:
    """Live-frame latency while a teach job trains vs while it is paused (SIGSTOP), in alternating blocks: other
    processes may load the machine too, and that load drifts, so the comparison is paired."""
    store = CaptureStore(tmp / "captures-latency")
    store.set_classes(list(snaps))
    for name, frames in snaps.items():
        for f in frames:
            store.add(name, f)
    jobs = JobManager(tmp / "runs-latency")
    ckpt = load_checkpoint(base)
    fn, pipeline = live_frame_function(ckpt)
    frames = [f for fs in snaps.values() for f in fs][:4]
    fn(frames[0])  # warm-up
    long_job = [replace_epochs(cfg, 100_000) for cfg in teach_phases(store.root, base, finetune=False)]
    jobs.start(long_job, "bench-busy", kind="teach", snapshot_data=True)
    deadline = time.time() + 120
    while not jobs.status().curve and time.time() < deadline:  # measure only once it really trains
        time.sleep(0.1)
    pid = jobs.status().pid
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
    return {"base": base.name, "frame_pipeline": pipeline, "frame_ms_idle_median": round(statistics.median(idle), 2),
            "frame_ms_during_job_median": round(statistics.median(busy), 2),
            "latency_ratio": round(statistics.median(busy) / statistics.median(idle), 2)}


def replace_epochs(cfg, epochs: int):
    """The same phase, running long enough to stay busy while frames are measured (cancelled after)."""
    from dataclasses import replace

    return replace(cfg, epochs=epochs, max_minutes=None)


if __name__ == "__main__":
    sys.exit(main())
