#!/usr/bin/env bash
# A wider CIFAR-10 ResNet (airbench95-like widths 128/384/384), 18 epochs with cutout, trained from scratch after
# queue5 finishes (never two trainings at once). Resumable: re-running continues a killed run.
cd "$(dirname "$0")/.."
while pgrep -f "logs/queue5.sh" > /dev/null; do sleep 20; done
export OMP_WAIT_POLICY=PASSIVE
PY=${PY:-/work/venv/bin/python}
$PY -m core.train --data cifar10-train-jpg --output-dir runs/cifar10-resnet-wide \
  --arch resnet --arch-kwargs '{"widths": [128, 384, 384]}' \
  --epochs 18 --batch-size 512 --lr 0.75 --momentum 0.85 --wd 1.33e-3 --warmup 0.23 --label-smoothing 0.2 \
  --augment flip,translate,cutout --translate 2 --cutout 8 --lookahead --norm-bias-lr-scale 64 --tta 2 \
  --max-minutes 70 --resume >> logs/cifar10-resnet-wide.log 2>&1
