#!/usr/bin/env bash
# Second CIFAR-10 ResNet run (longer, with cutout), after queue.sh has finished. Resumable like queue.sh.
cd "$(dirname "$0")/.."
export OMP_WAIT_POLICY=PASSIVE
while pgrep -f "logs/queue.sh" >/dev/null; do sleep 10; done
/work/venv/bin/python -m core.train --data cifar10-train-jpg --arch resnet --epochs 32 --batch-size 512 --lr 0.75 \
  --momentum 0.85 --wd 1.33e-3 --warmup 0.23 --label-smoothing 0.2 --norm-bias-lr-scale 64 --lookahead --tta 2 \
  --augment flip,translate,cutout --cutout 8 --output-dir runs/cifar10-resnet-long --max-minutes 60 --resume \
  >> logs/cifar10-resnet-long.log 2>&1
