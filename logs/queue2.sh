#!/usr/bin/env bash
# A second cycle for everyday50-resnet (it was still under-fitting after 22 epochs: train accuracy under CutMix
# below validation), fine-tuned from the first run's checkpoint, after queue.sh has finished. Resumable.
cd "$(dirname "$0")/.."
export OMP_WAIT_POLICY=PASSIVE
while pgrep -f "logs/queue.sh" >/dev/null; do sleep 10; done
/work/venv/bin/python -m core.train --data everyday50-train-jpg --init-from checkpoints/everyday50-resnet \
  --epochs 26 --batch-size 512 --lr 0.4 --momentum 0.85 --wd 1.33e-3 --warmup 0.15 --label-smoothing 0.1 \
  --norm-bias-lr-scale 64 --lookahead --cutmix 1.0 --tta 1 --augment flip,translate \
  --output-dir runs/everyday50-resnet-cycle2 --max-minutes 40 --resume >> logs/everyday50-resnet-cycle2.log 2>&1
