#!/usr/bin/env bash
# Second cycles for the two CIFAR-10 models (both were still improving at the end of their first schedule),
# fine-tuned from the first runs' checkpoints, after queue2.sh has finished. Resumable.
cd "$(dirname "$0")/.."
export OMP_WAIT_POLICY=PASSIVE
while pgrep -f "logs/queue2.sh" >/dev/null; do sleep 10; done
/work/venv/bin/python -m core.train --data cifar10-train-jpg --init-from checkpoints/cifar10-simplecnn \
  --epochs 14 --batch-size 256 --optimizer adamw --lr 1.5e-3 --wd 0.05 --warmup 0.15 --label-smoothing 0.1 --tta 1 \
  --augment flip,translate --output-dir runs/cifar10-simplecnn-cycle2 --max-minutes 16 --resume \
  >> logs/cifar10-simplecnn-cycle2.log 2>&1
/work/venv/bin/python -m core.train --data cifar10-train-jpg --init-from checkpoints/cifar10-resnet \
  --epochs 12 --batch-size 512 --lr 0.4 --momentum 0.85 --wd 1.33e-3 --warmup 0.15 --label-smoothing 0.2 \
  --norm-bias-lr-scale 64 --lookahead --tta 2 --augment flip,translate,cutout --cutout 8 \
  --output-dir runs/cifar10-resnet-cycle2 --max-minutes 16 --resume >> logs/cifar10-resnet-cycle2.log 2>&1
