#!/usr/bin/env bash
# Session 17: does a longer schedule make a stronger everyday50 network? The first network's recipe (as
# runs/everyday50-resnet-seed2, 28 epochs, 64.44% alone) for 40 epochs with --seed 4 on the same split: its
# validation accuracy was still rising by 1-3 points an epoch as the learning rate fell. Resumable: rerun this script.
cd "$(dirname "$0")/.."
export OMP_WAIT_POLICY=PASSIVE
PY=${PY:-/work/venv/bin/python}
$PY -m core.train --data everyday50-train-jpg --output-dir runs/everyday50-resnet-e40 \
  --arch-kwargs '{"widths": [64, 128, 256, 384], "stem_width": 32, "stem_stride": 1}' \
  --epochs 40 --batch-size 512 --lr 0.75 --momentum 0.85 --wd 0.00133 --warmup 0.23 --label-smoothing 0.1 \
  --augment flip,translate --translate 4 --cutout 8 --cutmix 1.0 --lookahead --norm-bias-lr-scale 64 --tta 1 \
  --seed 4 --split-seed 0 --max-minutes ${MAX_MINUTES:-110} --resume >> logs/everyday50-resnet-e40.log 2>&1
