"""Memory one request costs: the largest image the app accepts, an image bomb, and Score-CAM.

    python benchmarks/memory.py                       # every case, with the shipped imagenet-mobilenetv2
    python benchmarks/memory.py --checkpoint checkpoints/imagenet-mobilenetv2 --cases scorecam

Each case runs in a fresh process that loads the checkpoint and answers one small photo first (model, CAM replica
and libraries are then in memory, as in a running server); the kernel's peak-memory mark is reset, the request is
made the way the Upload & explore tab makes it (core.explain.explain_photo on the uploaded file, display size 384),
and the peak above the memory before the request is reported (a first Score-CAM included). Prints one JSON object:
{"checkpoint", "max_image_pixels", "cases": {name: {"peak_mb", "seconds", "result"}}}.
The test images are generated once into a temporary folder (a 40-megapixel PNG takes a few seconds to write).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core.data import MAX_IMAGE_PIXELS  # noqa: E402

DISPLAY_SIZE = 384  # what the Upload & explore tab asks for


def _largest_side() -> tuple[int, int]:
    """The largest 4:3 image within MAX_IMAGE_PIXELS."""
    h = int((MAX_IMAGE_PIXELS * 3 / 4) ** 0.5)
    return h * 4 // 3, h


def make_images(folder: Path) -> dict[str, Path]:
    """The case images: the largest accepted JPEG, PNG and PNG with transparency, a PNG bomb (30000 x 30000, under
    1 MB on disk) and an ordinary photo-sized JPEG for Score-CAM."""
    import numpy as np
    from PIL import Image

    w, h = _largest_side()
    # a smooth picture with some texture: compresses like a photo, decodes like one
    y, x = np.ogrid[:h, :w]
    files = {}
    big = np.empty((h, w, 3), np.uint8)
    big[..., 0] = (x * 255 // w).astype(np.uint8)
    big[..., 1] = (y * 255 // h).astype(np.uint8)
    big[..., 2] = ((x + y) % 256).astype(np.uint8)
    files["largest_jpeg"] = folder / "largest.jpg"
    Image.fromarray(big).save(files["largest_jpeg"], quality=85)
    files["largest_png"] = folder / "largest.png"
    Image.fromarray(big).save(files["largest_png"], compress_level=1)
    alpha = np.full((h, w, 1), 200, np.uint8)
    files["largest_png_rgba"] = folder / "largest-rgba.png"
    Image.fromarray(np.concatenate([big, alpha], axis=2)).save(files["largest_png_rgba"], compress_level=1)
    del big, alpha
    files["png_bomb"] = folder / "bomb.png"
    Image.new("L", (30000, 30000)).save(files["png_bomb"])
    files["photo"] = folder / "photo.jpg"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (480, 640, 3), np.uint8)).save(files["photo"])
    return files


CASES = {  # name -> (image, CAM method)
    "largest_jpeg": ("largest_jpeg", "gradcam"),
    "largest_png": ("largest_png", "gradcam"),
    "largest_png_rgba": ("largest_png_rgba", "gradcam"),
    "png_bomb": ("png_bomb", "gradcam"),
    "scorecam": ("photo", "scorecam"),
}


def _rss_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def one_case(checkpoint: str, image: str, method: str, warmup: str) -> dict:
    """Run in the child process: warm up, reset the peak, make the request, report the peak above the start."""
    import torch

    from core.checkpoint import load_checkpoint
    from core.errors import UserError
    from core.explain import explain_photo

    torch.set_num_threads(1)  # as the app serves requests
    ckpt = load_checkpoint(checkpoint)
    explain_photo(ckpt, warmup, display_size=DISPLAY_SIZE)  # Grad-CAM: model, replica and libraries loaded
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM, the peak resident size, to the current size
    before = _rss_kb("VmRSS")
    start = time.perf_counter()
    try:
        explain_photo(ckpt, image, method=method, display_size=DISPLAY_SIZE)
        result = "answered"
    except UserError as err:
        result = f"refused: {err}"
    seconds = time.perf_counter() - start
    return {"peak_mb": round((_rss_kb("VmHWM") - before) / 1024, 1), "seconds": round(seconds, 2), "result": result}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=str(ROOT / "checkpoints" / "imagenet-mobilenetv2"))
    parser.add_argument("--cases", default=",".join(CASES), help=f"comma list of {', '.join(CASES)}")
    parser.add_argument("--one", nargs=3, metavar=("IMAGE", "METHOD", "WARMUP"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(one_case(args.checkpoint, *args.one)))
        return 0
    names = [c.strip() for c in args.cases.split(",") if c.strip()]
    unknown = [n for n in names if n not in CASES]
    if unknown:
        parser.error(f"unknown case {', '.join(unknown)}; choose from {', '.join(CASES)}")
    out = {"checkpoint": Path(args.checkpoint).name, "max_image_pixels": MAX_IMAGE_PIXELS, "cases": {}}
    with tempfile.TemporaryDirectory(prefix="wtcs-memory-") as tmp:
        files = make_images(Path(tmp))
        for name in names:
            image, method = CASES[name]
            proc = subprocess.run([sys.executable, __file__, "--checkpoint", args.checkpoint, "--one",
                                   str(files[image]), method, str(files["photo"])],
                                  capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                out["cases"][name] = {"error": proc.stderr.strip().splitlines()[-1:]}
                continue
            out["cases"][name] = json.loads(proc.stdout.strip().splitlines()[-1])
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
