#!/usr/bin/env bash
# Session 15: the distillation of logs/queue18.sh again, after the fix that lets CutMix mix the teacher's targets
# (commit b198f69): each target is 0.7 x the five-network teacher's probabilities + 0.3 x the label. Resumable:
# rerun this script to continue after an interruption.
cd "$(dirname "$0")/.."
export OMP_WAIT_POLICY=PASSIVE
PY=${PY:-/work/venv/bin/python}
[ -d runs/everyday50-teacher5 ] || $PY -m core.ensemble runs/everyday50-resnet runs/everyday50-resnet-group \
  runs/everyday50-resnet-prog runs/everyday50-resnet-c2 runs/everyday50-resnet-scale --output-dir runs/everyday50-teacher5
$PY -m core.train --data everyday50-train-jpg --output-dir runs/everyday50-resnet-kd \
  --arch-kwargs '{"widths": [64, 128, 256, 384], "stem_width": 32, "stem_stride": 1}' \
  --epochs 28 --batch-size 512 --lr 0.75 --momentum 0.85 --wd 0.00133 --warmup 0.23 --label-smoothing 0.1 \
  --augment flip,translate --translate 4 --cutout 8 --cutmix 1.0 --lookahead --norm-bias-lr-scale 64 --tta 1 \
  --teacher runs/everyday50-teacher5 --distill 0.7 --seed 2 --split-seed 0 \
  --max-minutes ${MAX_MINUTES:-80} --resume >> logs/everyday50-resnet-kd2.log 2>&1
