"""Many visitors at once: N gradio_client users call the app for a bounded time; every call must be answered.

    python benchmarks/concurrency.py --seconds 120 --users 20
    python benchmarks/concurrency.py --url http://127.0.0.1:7860/ --seconds 30

Without --url the app is started (python app.py --no-training) on a free 127.0.0.1 port with --checkpoint-dir,
and stopped at the end. Each user has its own client and calls, in turn, /explore (an upload, Grad-CAM and the
overlay image) and /live_frame (a camera-sized frame), with the default model and output images downloaded, as a
browser would fetch them. All users send the same photos, so identical outputs are produced at the same moment
(the case where Gradio's content-addressed cache used to be written twice at once while being sent).

Prints one JSON object: calls, failures, the first distinct failure messages, and median and p95 latency in
seconds, overall and per endpoint.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PHOTOS = sorted((ROOT / "demo" / "examples").glob("*.jpg"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, timeout: float = 600) -> None:
    import urllib.request

    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url + "config", timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"the app did not answer at {url} within {timeout:.0f} s")


def user(url: str, model: str | None, deadline: float, results: list, index: int) -> None:
    """One visitor: alternate /explore and /live_frame until the deadline; append (endpoint, seconds, error)."""
    from gradio_client import Client, handle_file

    try:
        client = Client(url, verbose=False)
    except Exception as err:  # noqa: BLE001 (a refused connection is a failure to count, not a crash)
        results.append(("connect", 0.0, f"{type(err).__name__}: {err}"))
        return
    calls = [("/explore", lambda p: client.predict(handle_file(str(p)), model, "gradcam", "", "", 0.5, "",
                                                    api_name="/explore")),
             ("/live_frame", lambda p: client.predict(handle_file(str(p)), model, api_name="/live_frame"))]
    i = index
    while time.time() < deadline:
        name, call = calls[i % 2]
        photo = PHOTOS[(i // 2) % len(PHOTOS)]
        start = time.perf_counter()
        error = None
        try:
            out = call(photo)
            if name == "/explore" and not out[0]:
                error = f"no prediction: {out[2]}"
        except Exception as err:  # noqa: BLE001
            error = f"{type(err).__name__}: {str(err)[:200]}"
        results.append((name, time.perf_counter() - start, error))
        i += 1


def summary(times: list[float]) -> dict:
    if not times:
        return {"median_s": None, "p95_s": None}
    ordered = sorted(times)
    return {"median_s": round(statistics.median(ordered), 3),
            "p95_s": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 3)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a running app; default: start one")
    parser.add_argument("--checkpoint-dir", default=str(ROOT / "checkpoints"))
    parser.add_argument("--model", default=None, help="checkpoint folder to use (default: the app's default model)")
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=120)
    args = parser.parse_args(argv)
    if args.users < 1 or not 0 < args.seconds <= 3600:
        parser.error("--users must be at least 1 and --seconds in (0, 3600]")
    app = None
    url = args.url
    if url is None:
        port = free_port()
        url = f"http://127.0.0.1:{port}/"
        env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"}
        app = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--port", str(port), "--no-training",
                                "--checkpoint-dir", args.checkpoint_dir], cwd=ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(url)
        model = args.model
        if model is None:
            from gradio_client import Client

            # the model menu's value as the page opens: the app's default model
            config = Client(url, verbose=False).config
            model = next((c["props"]["value"] for c in config["components"]
                          if c.get("props", {}).get("elem_id") == "model-select"), None)
        results: list = []
        deadline = time.time() + args.seconds
        threads = [threading.Thread(target=user, args=(url, model, deadline, results, i), daemon=True)
                   for i in range(args.users)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(args.seconds + 300)
    finally:
        if app is not None:
            app.terminate()
            try:
                app.wait(20)
            except subprocess.TimeoutExpired:
                app.kill()
    failures = [r for r in results if r[2]]
    out = {"users": args.users, "seconds": args.seconds, "calls": len(results), "failures": len(failures),
           "failure_messages": sorted({r[2] for r in failures})[:5], **summary([r[1] for r in results if not r[2]]),
           "endpoints": {name: {"calls": sum(r[0] == name for r in results),
                                **summary([r[1] for r in results if r[0] == name and not r[2]])}
                         for name in ("/explore", "/live_frame")}}
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
