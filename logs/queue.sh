#!/usr/bin/env bash
# Runs the shipped models' trainings one after another (the machine has 2 cores: never two at once).
# Each command is resumable: re-running this script continues a killed run with --resume.
cd "$(dirname "$0")/.."
PY=/work/venv/bin/python
# Passive OpenMP waiting: when other work shares the 2 cores, spinning threads waste most of a time slice.
export OMP_WAIT_POLICY=PASSIVE
while pgrep -f "output-dir checkpoints/cifar10-resnet" >/dev/null; do sleep 10; done
$PY -m core.train --data everyday50-train-jpg --arch resnet --arch-kwargs '{"widths": [64, 256, 384], "stem_width": 64}' \
  --epochs 22 --batch-size 512 --lr 0.75 --momentum 0.85 --wd 1.33e-3 --warmup 0.23 --label-smoothing 0.1 \
  --norm-bias-lr-scale 64 --lookahead --cutmix 1.0 --tta 1 --augment flip,translate \
  --output-dir checkpoints/everyday50-resnet --max-minutes 75 --resume >> logs/everyday50-resnet.log 2>&1
$PY -m core.train --data cifar10-train-jpg --arch simplecnn --arch-kwargs '{"width": 64, "hidden": 512}' --dropout 0.3 \
  --epochs 12 --batch-size 256 --optimizer adamw --lr 3e-3 --wd 0.05 --label-smoothing 0.1 --tta 1 \
  --augment flip,translate --output-dir checkpoints/cifar10-simplecnn --max-minutes 30 --resume >> logs/cifar10-simplecnn.log 2>&1
