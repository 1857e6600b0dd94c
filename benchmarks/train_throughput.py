"""Training throughput of `resnet` at batch 256: the CPU fast path against a plain fp32 loop.

fast:  uint8 batch -> batch flip + translate (core.augment) -> normalise -> channels_last -> bf16 autocast
plain: per-image flip + translate in a Python loop -> normalise -> default memory format -> fp32

    python benchmarks/train_throughput.py --json

Prints one JSON object: images/s (median over timed steps) for each path and their ratio.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.augment import batch_flip_lr, batch_translate  # noqa: E402
from core.device import bf16_supported  # noqa: E402
from core.models import create_model  # noqa: E402
from core.predict import to_model_input  # noqa: E402

MEAN, STD = [0.49, 0.48, 0.45], [0.25, 0.24, 0.26]


def per_image_augment(images: torch.Tensor, pad: int, gen: torch.Generator) -> torch.Tensor:
    """The plain way: one image at a time in Python."""
    out = []
    for img in images:
        if torch.rand(1, generator=gen) < 0.5:
            img = img.flip(-1)
        padded = torch.nn.functional.pad(img.float()[None], (pad,) * 4, mode="reflect")[0]
        dy, dx = torch.randint(0, 2 * pad + 1, (2,), generator=gen).tolist()
        out.append(padded[:, dy:dy + img.shape[1], dx:dx + img.shape[2]].to(torch.uint8))
    return torch.stack(out)


def measure(fast: bool, images: torch.Tensor, labels: torch.Tensor, steps: int, warmup: int) -> float:
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    model = create_model("resnet", 10, 32)
    if fast:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True)
    use_bf16 = fast and bf16_supported(torch.device("cpu"))
    times = []
    for step in range(warmup + steps):
        start = time.perf_counter()
        idx = torch.randint(0, len(images), (256,), generator=gen)
        x, y = images[idx], labels[idx]
        if fast:
            x = batch_translate(batch_flip_lr(x, gen), 2, gen)
        else:
            x = per_image_augment(x, 2, gen)
        x = to_model_input(x, MEAN, STD)
        if fast:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=use_bf16):
            loss = torch.nn.functional.cross_entropy(model(x).float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step >= warmup:
            times.append(time.perf_counter() - start)
    return 256 / statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=15, help="timed steps per path")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2, help="alternate the two paths this many times")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    gen = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (4096, 3, 32, 32), dtype=torch.uint8, generator=gen)
    labels = torch.randint(0, 10, (4096,), generator=gen)
    fast, plain = [], []
    for _ in range(args.rounds):  # alternate, so background load hits both paths alike
        plain.append(measure(False, images, labels, args.steps, args.warmup))
        fast.append(measure(True, images, labels, args.steps, args.warmup))
    result = {
        "model": "resnet", "batch_size": 256, "threads": torch.get_num_threads(),
        "bf16": bf16_supported(torch.device("cpu")),
        "fast_images_per_s": round(statistics.median(fast), 1),
        "plain_images_per_s": round(statistics.median(plain), 1),
        "ratio": round(statistics.median(fast) / statistics.median(plain), 2),
        "rounds": {"fast": [round(v, 1) for v in fast], "plain": [round(v, 1) for v in plain]},
    }
    print(json.dumps(result) if args.json else json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
