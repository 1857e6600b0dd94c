"""Validation logits of each member under single test-time views (session 17), to choose a tta offline.

python logs/tta/view_logits.py ../shared/data/everyday50-train-jpg.tar.gz runs/everyday50-resnet ...
Writes /tmp/tta/<run>-<view>.pt (one view = one forward pass, the mirror image is its own view).
SHIFTS=1,2 limits the views to diagonal shifts of 1 and 2 pixels; THREADS=1 to run beside a training.
"""
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, ".")
from core.checkpoint import load_checkpoint  # noqa: E402
from core.evaluate import load_eval_set  # noqa: E402
from core.predict import to_model_input  # noqa: E402


def shift(x, dy, dx):
    p = max(abs(dy), abs(dx))
    pad = F.pad(x, (p, p, p, p), mode="reflect")
    h, w = x.shape[-2:]
    return pad[..., p - dy:p - dy + h, p - dx:p - dx + w]


def zoom(x, crop):
    h, w = x.shape[-2:]
    t, l = (h - crop) // 2, (w - crop) // 2
    return F.interpolate(x[..., t:t + crop, l:l + crop], size=(h, w), mode="bilinear", antialias=True, align_corners=False)


def zoom_out(x, side):
    h, w = x.shape[-2:]
    small = F.interpolate(x, size=(side, side), mode="bilinear", antialias=True, align_corners=False)
    p = (h - side) // 2
    return F.pad(small, (p, h - side - p, p, w - side - p), mode="reflect")


VIEWS = {"id": lambda x: x}
for d in [int(d) for d in os.environ.get("SHIFTS", "1,2,3,4").split(",")]:
    for dy, dx in ((d, d), (-d, -d), (d, -d), (-d, d)):
        VIEWS[f"s{dy:+d}{dx:+d}"] = (lambda dy, dx: lambda x: shift(x, dy, dx))(dy, dx)
if not os.environ.get("SHIFTS"):
    for c in (60, 56, 52):
        VIEWS[f"z{c}"] = (lambda c: lambda x: zoom(x, c))(c)
    VIEWS["o56"] = lambda x: zoom_out(x, 56)

if __name__ == "__main__":
    torch.set_num_threads(int(os.environ.get("THREADS", "2")))
    data = sys.argv[1]
    os.makedirs("/tmp/tta", exist_ok=True)
    for run in sys.argv[2:]:
        ck = load_checkpoint(run)
        val = load_eval_set(ck, data, "val")
        torch.save(val.labels, "/tmp/tta/labels.pt")
        model = ck.model.eval()
        x_all = to_model_input(val.images, ck.mean, ck.std).contiguous(memory_format=torch.channels_last)
        for name, view in VIEWS.items():
            for flip in (False, True):
                out = f"/tmp/tta/{os.path.basename(run)}-{name}{'-f' if flip else ''}.pt"
                if os.path.exists(out):
                    continue
                logits = []
                with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
                    for s in range(0, len(x_all), 500):
                        x = view(x_all[s:s + 500])
                        logits.append(model(x.flip(-1) if flip else x).float())
                lg = torch.cat(logits)
                torch.save(lg, out)
                print(run, name, flip, round(float((lg.argmax(1) == val.labels).float().mean()), 4), flush=True)
