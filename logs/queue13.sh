#!/usr/bin/env bash
# Session 10, second slot, after queue12: CIFAR-10 from scratch with airbench96's stronger augmentation (translate 4,
# cutout 12) on the shipped airbench95-width network, over a longer schedule (38 epochs instead of 18 + 12): the
# shipped model reaches 99.7% training accuracy, so it is short of regularisation, not capacity.
# Promoted by hand only if it beats the shipped checkpoint on validation.
cd "$(dirname "$0")/.."
while pgrep -f "logs/queue12.sh" > /dev/null; do sleep 20; done
export OMP_WAIT_POLICY=PASSIVE
PY=${PY:-/work/venv/bin/python}
$PY -m core.train --data cifar10-train-jpg --output-dir runs/cifar10-resnet-aug96 \
  --arch-kwargs '{"widths": [128, 384, 384], "stem": "whiten", "shortcut": false, "dirac": true}' \
  --epochs 38 --batch-size 512 --lr 0.65 --momentum 0.85 --wd 1.33e-3 --warmup 0.23 --label-smoothing 0.2 \
  --augment altflip,translate,cutout --translate 4 --cutout 12 --lookahead --norm-bias-lr-scale 64 --tta 2 \
  --max-minutes 80 --resume >> logs/cifar10-resnet-aug96.log 2>&1
