"""Memory allocation settings (core/__init__.py) against the C library's defaults, on two things the app does:
a fine-tuning step of MobileNetV2 at 192 px (the everyday50 recipe's: stem to stage3 fixed, batch 128 in chunks of
16) and one live frame's forward pass.

    python benchmarks/allocator.py --json [--steps 6] [--frames 40]

Each setting runs in its own process (they are fixed when a process starts). Prints one JSON object: per setting the
median seconds a step, minor page faults a step and milliseconds a frame, and the ratios default / tuned.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def worker(steps: int, frames: int) -> dict:
    """Runs in the child process: the measurements under whatever settings it started with."""
    import resource
    import time

    sys.path.insert(0, str(ROOT))
    importlib.import_module("core")  # first: its settings (unless WTCS_ALLOCATOR=default) apply before torch allocates
    import torch
    from torch import nn

    from core.models import create_model

    torch.set_num_threads(2)
    torch.manual_seed(0)
    model = create_model("mobilenetv2", num_classes=50, input_size=192).to(memory_format=torch.channels_last)
    for name, stage in model.named_children():
        if name in ("stem", "stage1", "stage2", "stage3"):
            stage.requires_grad_(False)
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=1e-3, momentum=0.9)
    x = torch.randn(128, 3, 192, 192).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 50, (128,))
    step_s, faults = [], []
    model.train()
    for _ in range(steps + 1):  # the first step warms up
        f0, t0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt, time.perf_counter()
        opt.zero_grad(set_to_none=True)
        for s in range(0, 128, 16):
            (nn.functional.cross_entropy(model(x[s:s + 16]), y[s:s + 16]) / 8).backward()
        opt.step()
        step_s.append(time.perf_counter() - t0)
        faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0)
    model.eval()
    frame_ms = []
    with torch.no_grad():
        one = x[:1].clone()
        for _ in range(frames + 3):
            t0 = time.perf_counter()
            model(one)
            frame_ms.append(1000 * (time.perf_counter() - t0))
    return {"step_seconds": round(statistics.median(step_s[1:]), 3), "page_faults_per_step": int(statistics.median(faults[1:])),
            "frame_ms": round(statistics.median(frame_ms[3:]), 2)}


def run(setting: str, steps: int, frames: int) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "THP_MEM_ALLOC_ENABLE"}
    if setting == "default":
        env["WTCS_ALLOCATOR"] = "default"
    else:
        env.pop("WTCS_ALLOCATOR", None)
    out = subprocess.run([sys.executable, __file__, "--worker", "--steps", str(steps), "--frames", str(frames)],
                         env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--steps", type=int, default=6, help="timed training steps per setting")
    parser.add_argument("--frames", type=int, default=40, help="timed live-frame forward passes per setting")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.steps, args.frames)))
        return 0
    result = {"default": run("default", args.steps, args.frames), "tuned": run("tuned", args.steps, args.frames)}
    result["step_speedup"] = round(result["default"]["step_seconds"] / result["tuned"]["step_seconds"], 2)
    result["frame_ratio"] = round(result["default"]["frame_ms"] / result["tuned"]["frame_ms"], 2)
    result.update(steps=args.steps, frames=args.frames, cpu_count=os.cpu_count())
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
