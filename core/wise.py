"""Mixing a fine-tuned network's weights with those of the pretrained network it started from (WiSE-FT: Wortsman et
al., "Robust fine-tuning of zero-shot models", CVPR 2022).

The weights become ``alpha * fine-tuned + (1 - alpha) * pretrained``, the pretrained network answering with its own
classifier's rows for the same classes (the rows a new head starts from in ``core.train``). Fine-tuning on small
photos overfits them; a step back towards the pretrained weights keeps more of what the network knew before. It
costs nothing at run time: the mix is one network of the same shape.

    python -m core.wise checkpoints/everyday50-mobilenetv2 --alphas 1,0.9,0.8,0.7   validation top-1 of each mix (JSON)
    python -m core.bundle checkpoints/everyday50-mobilenetv2 --wise 0.8             store one mix (core.bundle.store_mix)
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import torch

from core.checkpoint import FLOAT16, Checkpoint, load_checkpoint
from core.errors import ConfigError, UserError
from core.evaluate import default_tta, load_eval_set
from core.models import members
from core.predict import to_model_input
from core.pretrained import load_pretrained
from core.train import class_key, replace_head

BATCH = 100  # images a forward pass


def check_alpha(alpha: float) -> float:
    """``alpha`` as a float in [0, 1] (the fine-tuned network's share); ConfigError otherwise."""
    try:
        alpha = float(alpha)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"the fine-tuned share must be a number from 0 to 1, not {alpha!r}") from err
    if not math.isfinite(alpha) or not 0.0 <= alpha <= 1.0:
        raise ConfigError(f"the fine-tuned share must be from 0 (the pretrained network) to 1 (the fine-tuned one), not {alpha}")
    return alpha


def start_source(ckpt: Checkpoint) -> str:
    """The network ``ckpt`` was fine-tuned from (its recipe's ``--init-from``); ConfigError when it has none."""
    source = (ckpt.config.get("recipe") or {}).get("init_from")
    if not source or ckpt.config.get("members"):
        raise ConfigError(f"{ckpt.path or 'this model'} was not fine-tuned from a pretrained network (its recipe has no "
                          "--init-from), so there is nothing to mix it with")
    return str(source)


def start_state(ckpt: Checkpoint) -> dict[str, torch.Tensor]:
    """The weights ``ckpt`` started from, shaped like its own: the pretrained network with its classifier cut down to
    ``ckpt``'s classes. ConfigError when the pretrained network does not know one of them (its row would be random)
    or has another shape."""
    base = load_pretrained(start_source(ckpt))
    model = members(base.model)[0]
    known = {class_key(c) for c in base.classes}
    unknown = [c for c in ckpt.classes if class_key(c) not in known]
    if unknown:
        raise ConfigError(f"the pretrained network does not know {', '.join(unknown[:5])}"
                          f"{' and others' if len(unknown) > 5 else ''}: only a model of classes it knows can be mixed with it")
    if list(base.classes) != list(ckpt.classes):
        replace_head(model, base.classes, ckpt.classes)
    state, own = model.state_dict(), ckpt.model.state_dict()
    if state.keys() != own.keys() or any(state[k].shape != own[k].shape for k in own):
        raise ConfigError("the pretrained network has another architecture than the fine-tuned one")
    return state


def mix(finetuned: dict[str, torch.Tensor], start: dict[str, torch.Tensor], alpha: float) -> dict[str, torch.Tensor]:
    """``alpha * finetuned + (1 - alpha) * start`` for every floating-point tensor (others kept from ``finetuned``)."""
    return {k: (alpha * v.float() + (1.0 - alpha) * start[k].float()).to(v.dtype) if v.is_floating_point() else v
            for k, v in finetuned.items()}


def unmixed_checkpoint(checkpoint_dir: str | Path) -> Checkpoint:
    """The checkpoint, loaded, if it can be mixed: float (or float16) weights, not mixed already; ConfigError if not."""
    ckpt = load_checkpoint(checkpoint_dir)
    if ckpt.config.get("weight_format") not in (None, FLOAT16):  # float16 is the float weights, rounded once
        raise ConfigError(f"{checkpoint_dir} is stored as {ckpt.config['weight_format']}: mix its float weights (the "
                          "run folder) and store the mix in a smaller format afterwards")
    if ckpt.config.get("wise"):
        raise ConfigError(f"{checkpoint_dir} is already a mix (fine-tuned share {ckpt.config['wise']['alpha']}): mix "
                          "the run folder's own weights instead")
    return ckpt


def measure(checkpoint_dir: str | Path, alphas: list[float], data: str | None = None) -> list[dict]:
    """Validation top-1 of each mix, the checkpoint left as it is: at the checkpoint's own tta (the mirror at most)
    and as ``python -m core.evaluate`` computes it. The leading stages fine-tuning left fixed are the same in every
    mix, so they run once."""
    alphas = [check_alpha(a) for a in alphas]
    ckpt = unmixed_checkpoint(checkpoint_dir)
    start, own = start_state(ckpt), {k: v.clone() for k, v in ckpt.model.state_dict().items()}
    stages = list(ckpt.model.named_children())
    fixed = 0
    while fixed < len(stages) - 1 and all(torch.equal(own[k], start[k]) for k in own if k.split(".")[0] == stages[fixed][0]):
        fixed += 1
    val = load_eval_set(ckpt, data or ckpt.config.get("dataset", {}).get("source"), "val")
    tta = min(default_tta(ckpt), 1)
    views = [val.images, val.images.flip(-1)] if tta else [val.images]
    with torch.no_grad():
        cached = [_run(stages[:fixed], to_model_input(v[i:i + BATCH], ckpt.mean, ckpt.std))
                  for v in views for i in range(0, len(v), BATCH)]
        rows = []
        for alpha in alphas:
            ckpt.model.load_state_dict(mix(own, start, alpha))
            ckpt.model.eval()
            logits = torch.cat([_run(stages[fixed:], x).float() for x in cached]).view(len(views), len(val.images), -1).mean(0)
            rows.append({"alpha": alpha, "top1": round(float((logits.argmax(1) == val.labels).float().mean()), 4), "tta": tta})
    ckpt.model.load_state_dict(own)
    return rows


def _run(stages: list[tuple[str, torch.nn.Module]], x: torch.Tensor) -> torch.Tensor:
    for _, stage in stages:
        x = stage(x)
    return x


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Validation top-1 of a fine-tuned network mixed with the one it started from")
    parser.add_argument("checkpoint", help="a checkpoint folder trained with --init-from (float weights)")
    parser.add_argument("--alphas", default="1,0.9,0.8,0.7,0.6,0.5", help="fine-tuned shares to measure, comma-separated")
    parser.add_argument("--data", default=None, help="dataset path if it moved since training")
    args = parser.parse_args(argv)
    try:
        rows = measure(args.checkpoint, [a for a in args.alphas.split(",") if a.strip()], args.data)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(json.dumps({"checkpoint": Path(args.checkpoint).name, "mixes": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
