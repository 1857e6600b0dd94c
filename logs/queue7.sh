#!/usr/bin/env bash
# Session 8, first run: everyday50 at full 64x64 resolution (stride-1 stem, four stages), 28 epochs of CutMix.
# The same recipe as queue5 (killed at epoch 22 of 30 when its session ended, 54.8% then), sized to finish in
# about an hour. Resumable: re-running continues a killed run.
cd "$(dirname "$0")/.."
export OMP_WAIT_POLICY=PASSIVE
PY=${PY:-/work/venv/bin/python}
$PY -m core.train --data everyday50-train-jpg --output-dir runs/everyday50-resnet-s1 \
  --arch resnet --arch-kwargs '{"widths": [64, 128, 256, 384], "stem_width": 32, "stem_stride": 1}' \
  --epochs 28 --batch-size 512 --lr 0.75 --momentum 0.85 --wd 1.33e-3 --warmup 0.23 --label-smoothing 0.1 \
  --augment flip,translate --translate 4 --cutmix 1.0 --lookahead --norm-bias-lr-scale 64 --tta 1 \
  --max-minutes 80 --resume >> logs/everyday50-resnet-s1.log 2>&1
