"""Ensemble accuracy under test-time views from view_logits.py (float32 weights; session 17).

python logs/tta/combine.py everyday50-resnet everyday50-resnet-group ...
Each network's views are averaged as log-probabilities, as core.evaluate averages the ensemble's outputs; the
networks vote by averaging probabilities, as core.models.Ensemble."""
import sys

import torch

y = torch.load("/tmp/tta/labels.pt")
runs = sys.argv[1:]


def views(d_max):
    out = ["id", "id-f"]
    for d in range(1, d_max + 1):
        for a, b in ((d, d), (-d, -d), (d, -d), (-d, d)):
            out += [f"s{a:+d}{b:+d}", f"s{a:+d}{b:+d}-f"]
    return out


SETS = {
    "flip (tta 1)": (["id", "id-f"], None),
    "airbench (tta 2)": (["id", "id-f"], ["s+1+1", "s+1+1-f", "s-1-1", "s-1-1-f"]),
    "flip + 8 shifts d<=1": (views(1), None),
    "flip + 16 shifts d<=2": (views(2), None),
}


def member_logits(run, names, extra):
    lp = lambda n: torch.load(f"/tmp/tta/{run}-{n}.pt").log_softmax(1)  # noqa: E731
    out = torch.stack([lp(n) for n in names]).mean(0)
    if extra:  # tta 2: half the mirrored pair, half the mean of the shifted pairs
        out = 0.5 * out + 0.5 * torch.stack([lp(n) for n in extra]).mean(0)
    return out


for name, (names, extra) in SETS.items():
    probs = [member_logits(r, names, extra).softmax(1) for r in runs]
    single = [round(100 * float((p.argmax(1) == y).float().mean()), 2) for p in probs]
    ens = torch.stack(probs).mean(0)
    print(f"{name:24s} ensemble {100 * float((ens.argmax(1) == y).float().mean()):.2f}  alone {single}")
