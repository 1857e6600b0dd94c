#!/usr/bin/env bash
# Session 11: CIFAR-10 with airbench96's stage layout (two convolutions per stage behind one skip connection,
# shortcut "group") at the shipped widths 128/384/384, on the shipped aug96 recipe over 46 epochs (the shipped 38-epoch run was still improving at its end).
# airbench96's own widths (128/512/512) cost ~2x per epoch here and would not finish in a session.
# Promoted by hand only if it beats the shipped checkpoint on validation.
cd "$(dirname "$0")/.."
export OMP_WAIT_POLICY=PASSIVE
PY=${PY:-/work/venv/bin/python}
$PY -m core.train --data cifar10-train-jpg --output-dir runs/cifar10-resnet-group \
  --arch-kwargs '{"widths": [128, 384, 384], "depth": 2, "stem": "whiten", "shortcut": "group", "dirac": true}' \
  --epochs 46 --batch-size 512 --lr 0.65 --momentum 0.85 --wd 1.33e-3 --warmup 0.23 --label-smoothing 0.2 \
  --augment altflip,translate,cutout --translate 4 --cutout 12 --lookahead --norm-bias-lr-scale 64 --tta 2 \
  --max-minutes 145 --resume >> logs/cifar10-resnet-group.log 2>&1
