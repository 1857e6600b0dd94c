"""Latency of one live-camera frame, in-process and through the running app, and memory over many frames.

in-process: demo.live.live_frame on a 640x480 frame, exactly what the webcam stream runs per frame
            (decode array -> centre crop + resize -> forward + Grad-CAM in one pass -> smoothing -> overlay
            at 320 px -> pixelated input), for every checkpoint found.
round trip: the app started on a free localhost port, the same callback called through gradio_client
            (its non-streaming twin, /live_frame: gradio_client cannot consume streaming events): upload
            of the JPEG frame, queue, callback, and the result message; output images are not downloaded
            unless --download.
memory:     resident set size before and after 1,000 in-process frames (after a warm-up), the default model.
stream:     the Live tab in headless Chromium streaming a video whose frames carry their number (--stream-seconds):
            frames the browser sent and the app answered a second, and how far behind the video each answered
            frame was when its callback started, beyond the quickest answer (a queue of frames would make that grow).
visitors:   --visitors N pages stream Chromium's test pattern at once (the app's default model) for
            --stream-seconds: how many got answers and each one's answers a second (the pages' own rendering
            shares the cores with the app here, so these are lower bounds).

    python benchmarks/live_latency.py --json [--checkpoint-dir checkpoints] [--frames 200] [--stream-seconds 30]
                                      [--visitors 6] [--input-sizes 160,192]

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.checkpoint import CHECKPOINTS_DIR, CheckpointStore, checkpoint_label  # noqa: E402
from demo import live  # noqa: E402
from demo.ui import AppContext  # noqa: E402

PHOTO = Path(__file__).resolve().parent.parent / "demo" / "examples" / "chelsea_cat.jpg"


def camera_frames(n: int = 4) -> list[np.ndarray]:
    """640x480 RGB frames like a webcam's: the bundled cat photo, shifted a little each frame."""
    from PIL import Image

    base = np.asarray(Image.open(PHOTO).convert("RGB").resize((640, 480)))
    return [np.roll(base, 8 * i, axis=1).copy() for i in range(n)]


def rss_mb() -> float:
    """Resident memory of this process in MB (Linux /proc)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def resized_copy(checkpoint: Path, size: int, tmp: Path) -> Path:
    """The checkpoint with another input size in its config.json (its weights linked, not copied)."""
    copy = tmp / f"{checkpoint.name}@{size}"
    copy.mkdir()
    for f in checkpoint.iterdir():
        if f.suffix == ".safetensors" and f.name.startswith("model"):
            (copy / f.name).symlink_to(f)
    config = json.loads((checkpoint / "config.json").read_text())
    (copy / "config.json").write_text(json.dumps({**config, "input_size": size}))
    return copy


def in_process(ctx: AppContext, model: str, frames: list[np.ndarray], n: int, warmup: int = 20) -> dict:
    state, times = None, []
    for i in range(warmup + n):
        start = time.perf_counter()
        result = live.live_frame(ctx, frames[i % len(frames)], model, state)
        elapsed = time.perf_counter() - start
        state = result.state
        if result.overlay is None:
            raise SystemExit(f"{model}: the live frame failed: {result.headline}")
        if i >= warmup:
            times.append(elapsed * 1000)
    return {"median_ms": round(statistics.median(times), 2), "p90_ms": round(percentile(times, 90), 2), "frames": n}


def memory_growth(ctx: AppContext, model: str, frames: list[np.ndarray], n: int = 1000) -> dict:
    in_process(ctx, model, frames, 50, warmup=0)  # one-time allocations (model copy, caches) happen here
    before = rss_mb()
    in_process(ctx, model, frames, n, warmup=0)
    after = rss_mb()
    return {"model": Path(model).name, "requests": n, "rss_mb_before": round(before, 1),
            "rss_mb_after": round(after, 1), "growth_mb": round(after - before, 1)}


def round_trip(checkpoint_dir: Path, model: str, frames: list[np.ndarray], n: int, download: bool) -> dict:
    from gradio_client import Client, handle_file
    from PIL import Image

    from tests.browser_support import running_app

    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i, f in enumerate(frames):
            paths.append(Path(tmp) / f"frame{i}.jpg")
            Image.fromarray(f).save(paths[-1], quality=85)  # browsers send webcam frames as compressed images
        with running_app(checkpoint_dir, runs_dir=Path(tmp) / "runs") as url:
            client = Client(url, verbose=False, download_files=download)
            times = []
            for i in range(5 + n):
                start = time.perf_counter()
                client.predict(handle_file(str(paths[i % len(paths)])), model, api_name="/live_frame")
                if i >= 5:
                    times.append((time.perf_counter() - start) * 1000)
            client.close()
    return {"model": Path(model).name, "median_ms": round(statistics.median(times), 1),
            "p90_ms": round(percentile(times, 90), 1), "requests": n, "outputs_downloaded": download}


def browser_stream(checkpoint_dir: Path, model: str, seconds: float, fps: int = 10) -> dict:
    """Stream a numbered video through the Live tab for ``seconds`` (after the first answer) and time it."""
    from demo import ui
    from tests.browser_support import streamed_live_frames

    default, ui.DEFAULT_MODEL = ui.DEFAULT_MODEL, Path(model).name
    try:
        with tempfile.TemporaryDirectory() as tmp:
            start, end, sent, calls = streamed_live_frames(checkpoint_dir, Path(tmp), seconds, fps)
    finally:
        ui.DEFAULT_MODEL = default
    timed_calls = [c for c in calls if start <= c[0] and c[1] <= end]
    offsets = [s - n / fps for s, _, n in timed_calls]  # video start + how late the frame is
    behind = [(o - min(offsets)) * 1000 for o in offsets]
    third = max(1, len(behind) // 3)
    return {"model": Path(model).name, "seconds": seconds, "video_fps": fps,
            "frames_sent_per_s": round(sum(start <= t < end for t in sent) / (end - start), 2),
            "answers_per_s": round(len(timed_calls) / (end - start), 2),
            "callback_median_ms": round(statistics.median((e - s) * 1000 for s, e, _ in timed_calls), 1),
            "behind_median_ms": round(statistics.median(behind), 1),
            "behind_p90_ms": round(percentile(behind, 90), 1), "behind_max_ms": round(max(behind), 1),
            "behind_first_third_median_ms": round(statistics.median(behind[:third]), 1),
            "behind_last_third_median_ms": round(statistics.median(behind[-third:]), 1),
            "frame_numbers_increase": all(b[2] > a[2] for a, b in itertools.pairwise(timed_calls))}


def visitors_at_once(checkpoint_dir: Path, visitors: int, seconds: float) -> dict:
    """``visitors`` pages stream at once for ``seconds`` (after 5 s to settle); answers counted per stream."""
    import threading

    from tests.browser_support import chromium, running_app, streaming_visitors

    stream_of: dict[int, int] = {}  # id of the state a callback returned -> its stream (the next call gets it back)
    answers: dict[int, list[float]] = {}
    lock = threading.Lock()
    original = live.live_frame

    def counted(ctx, frame, model, state):
        result = original(ctx, frame, model, state)
        with lock:
            stream = stream_of.pop(id(state), None) if state is not None else None
            if stream is None:
                stream = len(answers)
                answers[stream] = []
            answers[stream].append(time.perf_counter())
            stream_of[id(result.state)] = stream
        return result

    live.live_frame = counted
    try:
        with tempfile.TemporaryDirectory() as tmp, running_app(checkpoint_dir, runs_dir=Path(tmp) / "runs") as url, \
                chromium(fake_camera=True) as browser:
            pages = streaming_visitors(browser, url, visitors)
            pages[0].wait_for_timeout(5000)
            start = time.perf_counter()
            pages[0].wait_for_timeout(seconds * 1000)
            end = time.perf_counter()
            answered = sum("Start the camera" not in p.locator("#live-headline").inner_text() for p in pages)
    finally:
        live.live_frame = original
    rates = [round(sum(start <= t < end for t in times) / (end - start), 2) for times in answers.values()]
    return {"visitors": visitors, "places": live.LIVE_STREAMS, "seconds": seconds, "visitors_answered": answered,
            "answers_per_s_each": rates, "answers_per_s_total": round(sum(rates), 2)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint-dir", default=str(CHECKPOINTS_DIR))
    parser.add_argument("--frames", type=int, default=200, help="timed in-process frames per model")
    parser.add_argument("--requests", type=int, default=50, help="timed gradio_client round trips")
    parser.add_argument("--memory-requests", type=int, default=1000)
    parser.add_argument("--stream-seconds", type=float, default=30,
                        help="stream the Live tab in headless Chromium this long (0: skip)")
    parser.add_argument("--visitors", type=int, default=0,
                        help="also stream this many Chromium pages at once for --stream-seconds (0: skip)")
    parser.add_argument("--download", action="store_true", help="let gradio_client download the output images")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1, as app.py serves)")
    parser.add_argument("--input-sizes", default="",
                        help="also time each MobileNetV2 at these input sides, e.g. 160,192 (same weights)")
    parser.add_argument("--json", action="store_true", help="print only the JSON object")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(max(1, args.threads))
    ctx = AppContext(CheckpointStore(args.checkpoint_dir))
    models = [str(p) for p in ctx.store.paths()]
    if not models:
        print(json.dumps({"error": f"no checkpoints in {args.checkpoint_dir}"}))
        return 1
    frames = camera_frames()
    result: dict = {"frame": "640x480 RGB", "torch_threads": torch.get_num_threads(), "in_process": {}}
    for model in models:
        ckpt = ctx.checkpoint(model)
        row = in_process(ctx, model, frames, args.frames)
        row.update(label=checkpoint_label(Path(model)), arch=ckpt.config["arch"], input_size=ckpt.input_size)
        result["in_process"][Path(model).name] = row
    sizes = [int(x) for x in args.input_sizes.split(",") if x.strip()]
    with tempfile.TemporaryDirectory() as tmp:
        for model in [m for m in models if ctx.checkpoint(m).config["arch"] == "mobilenetv2"]:
            for size in sizes:
                copy = resized_copy(Path(model), size, Path(tmp))
                row = in_process(ctx, str(copy), frames, args.frames)
                row.update(arch="mobilenetv2", input_size=size)
                result["in_process"][copy.name] = row
    # The live view's default model (the first in the menu) is the one the round trip and memory are about.
    main_model = ctx.default_model() or models[0]
    result["round_trip"] = round_trip(Path(args.checkpoint_dir), main_model, frames, args.requests, args.download)
    result["memory"] = memory_growth(ctx, main_model, frames, args.memory_requests)
    if args.stream_seconds > 0:
        result["stream"] = browser_stream(Path(args.checkpoint_dir), main_model, args.stream_seconds)
    if args.visitors > 0:
        result["visitors"] = visitors_at_once(Path(args.checkpoint_dir), args.visitors, args.stream_seconds or 30)
    print(json.dumps(result, indent=None if args.json else 2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
