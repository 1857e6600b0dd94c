#!/usr/bin/env bash
# everyday50 at full 64x64 resolution: stride-1 stem and four stages (the shipped one strides its stem, so every
# stage sees a 32x32 image), 30 epochs of CutMix. Then a wider CIFAR-10 ResNet (airbench95-like widths). Resumable:
# re-running this script continues whichever run was killed.
cd "$(dirname "$0")/.."
export OMP_WAIT_POLICY=PASSIVE
PY=${PY:-/work/venv/bin/python}
$PY -m core.train --data everyday50-train-jpg --output-dir runs/everyday50-resnet-s1 \
  --arch resnet --arch-kwargs '{"widths": [64, 128, 256, 384], "stem_width": 32, "stem_stride": 1}' \
  --epochs 30 --batch-size 512 --lr 0.75 --momentum 0.85 --wd 1.33e-3 --warmup 0.23 --label-smoothing 0.1 \
  --augment flip,translate --translate 4 --cutmix 1.0 --lookahead --norm-bias-lr-scale 64 --tta 1 \
  --max-minutes 85 --resume >> logs/everyday50-resnet-s1.log 2>&1
