#!/usr/bin/env bash
# Session 18: with ~80 minutes of CPU left and the full-size fourth network too slow today (logs/queue29.sh), a narrower
# one: cifar10-resnet's recipe at widths 64/256/256 over 20 epochs (seed 3, the same validation split). Rule fixed
# before it ran (as logs/queue30.sh): it joins only if four networks score above the three's 94.02% on validation and
# the 40 MB budget has room (everyday50-resnet giving up members 2 and 4 if needed: 68.52% for the other five).
# (First started over 12 epochs; at ~100 s an epoch 20 fit, so it was restarted after one epoch.)
cd "$(dirname "$0")/.."
export OMP_WAIT_POLICY=PASSIVE
PY=${PY:-/work/venv/bin/python}
$PY -m core.train --data cifar10-train-jpg --output-dir runs/cifar10-resnet-narrow \
  --arch-kwargs '{"widths": [64, 256, 256], "depth": 2, "stem": "whiten", "shortcut": "group", "dirac": true}' \
  --epochs 20 --batch-size 512 --lr 0.65 --momentum 0.85 --wd 1.33e-3 --warmup 0.23 --label-smoothing 0.2 \
  --augment altflip,translate,cutout --translate 4 --cutout 12 --lookahead --norm-bias-lr-scale 64 --tta 2 \
  --seed 3 --split-seed 0 --max-minutes ${MAX_MINUTES:-60} --resume >> logs/cifar10-resnet-narrow.log 2>&1
echo "train exit $?" >> logs/cifar10-resnet-narrow.log
