#!/usr/bin/env bash
# Session 10, first slot: everyday50 with the batched random-resized crop ("scale", written last session, never
# trained with): flip + scale (min area 0.35) + CutMix, 36 epochs, otherwise the shipped 28-epoch recipe.
# Promoted by hand only if it beats the shipped checkpoint on validation.
cd "$(dirname "$0")/.."
export OMP_WAIT_POLICY=PASSIVE
PY=${PY:-/work/venv/bin/python}
$PY -m core.train --data everyday50-train-jpg --output-dir runs/everyday50-resnet-scale \
  --arch-kwargs '{"widths": [64, 128, 256, 384], "stem_width": 32, "stem_stride": 1}' \
  --epochs 36 --batch-size 512 --lr 0.75 --momentum 0.85 --wd 1.33e-3 --warmup 0.23 --label-smoothing 0.1 \
  --augment flip,scale --scale-min 0.35 --cutmix 1.0 --lookahead --norm-bias-lr-scale 64 \
  --max-minutes 85 --resume >> logs/everyday50-resnet-scale.log 2>&1
