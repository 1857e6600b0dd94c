#!/usr/bin/env bash
# Session 16: a seventh everyday50 network for the ensemble: the first network's recipe with --seed 3 on the same
# split (as runs/everyday50-resnet-seed2). The distilled network (logs/queue21.sh) scored 64.28% alone against
# 64.44% for the same recipe and seed without the teacher, so this one learns from the labels: cheaper (no teacher
# pass) and more different from the others. Resumable: rerun this script after an interruption.
cd "$(dirname "$0")/.."
export OMP_WAIT_POLICY=PASSIVE
PY=${PY:-/work/venv/bin/python}
$PY -m core.train --data everyday50-train-jpg --output-dir runs/everyday50-resnet-seed3 \
  --arch-kwargs '{"widths": [64, 128, 256, 384], "stem_width": 32, "stem_stride": 1}' \
  --epochs 28 --batch-size 512 --lr 0.75 --momentum 0.85 --wd 0.00133 --warmup 0.23 --label-smoothing 0.1 \
  --augment flip,translate --translate 4 --cutout 8 --cutmix 1.0 --lookahead --norm-bias-lr-scale 64 --tta 1 \
  --seed 3 --split-seed 0 --max-minutes ${MAX_MINUTES:-80} --resume >> logs/everyday50-resnet-seed3.log 2>&1
