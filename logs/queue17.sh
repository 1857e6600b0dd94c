#!/usr/bin/env bash
# Session 14: a second CIFAR-10 network for an ensemble with the shipped one. The shipped recipe (logs/queue14.sh) with
# another initialisation and data order (--seed 1) on the same validation split (--split-seed 0), over 34 epochs so it
# fits in one session (46 epochs took 142 min). Used only if an ensemble with it beats the shipped figures on validation.
cd "$(dirname "$0")/.."
export OMP_WAIT_POLICY=PASSIVE
PY=${PY:-/work/venv/bin/python}
$PY -m core.train --data cifar10-train-jpg --output-dir runs/cifar10-resnet-seed1 \
  --arch-kwargs '{"widths": [128, 384, 384], "depth": 2, "stem": "whiten", "shortcut": "group", "dirac": true}' \
  --epochs 34 --batch-size 512 --lr 0.65 --momentum 0.85 --wd 1.33e-3 --warmup 0.23 --label-smoothing 0.2 \
  --augment altflip,translate,cutout --translate 4 --cutout 12 --lookahead --norm-bias-lr-scale 64 --tta 2 \
  --seed 1 --split-seed 0 --max-minutes ${MAX_MINUTES:-125} --resume >> logs/cifar10-resnet-seed1.log 2>&1
# Result: 93.20% validation top-1 (tta 2) alone after 93.9 min (34 epochs). With the shipped 46-epoch network and the
# 64-epoch run (logs/queue16.sh) it makes the shipped cifar10-resnet ensemble (python -m core.ensemble ... --int8).
