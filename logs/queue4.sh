#!/usr/bin/env bash
# A third cycle for cifar10-resnet (the second added a point), fine-tuned from the promoted second cycle. Resumable.
cd "$(dirname "$0")/.."
export OMP_WAIT_POLICY=PASSIVE
/work/venv/bin/python -m core.train --data cifar10-train-jpg --init-from checkpoints/cifar10-resnet \
  --epochs 12 --batch-size 512 --lr 0.3 --momentum 0.85 --wd 1.33e-3 --warmup 0.15 --label-smoothing 0.2 \
  --norm-bias-lr-scale 64 --lookahead --tta 2 --augment flip,translate,cutout --cutout 8 \
  --output-dir runs/cifar10-resnet-cycle3 --max-minutes 14 --resume >> logs/cifar10-resnet-cycle3.log 2>&1
