#!/usr/bin/env bash
# Session 8, second run: CIFAR-10 with airbench's own first layers, at airbench95's widths (128/384/384):
# frozen 2x2 whitening stem fitted to the data, identity (dirac) init, plain conv units, alternating flip.
# Starts when queue7 (everyday50) has finished: never two trainings at once. Resumable.
cd "$(dirname "$0")/.."
while pgrep -f "logs/queue7.sh" > /dev/null; do sleep 20; done
export OMP_WAIT_POLICY=PASSIVE
PY=${PY:-/work/venv/bin/python}
$PY -m core.train --data cifar10-train-jpg --output-dir runs/cifar10-resnet-whiten \
  --arch resnet --arch-kwargs '{"widths": [128, 384, 384], "stem": "whiten", "shortcut": false, "dirac": true}' \
  --epochs 18 --batch-size 512 --lr 0.65 --momentum 0.85 --wd 1.33e-3 --warmup 0.23 --label-smoothing 0.2 \
  --augment altflip,translate --translate 2 --lookahead --norm-bias-lr-scale 64 --tta 2 \
  --max-minutes 75 --resume >> logs/cifar10-resnet-whiten.log 2>&1
