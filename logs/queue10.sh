#!/usr/bin/env bash
# Session 9: everyday50 was still climbing at the end of its 28-epoch run (train accuracy below validation), so it
# gets a much longer one-cycle schedule, paid for with progressive resizing (32 -> 64 px over the first 3/4 of the
# epochs; a 32 px epoch costs a quarter of a 64 px one). Same network and regularisation as the shipped model.
cd "$(dirname "$0")/.."
export OMP_WAIT_POLICY=PASSIVE
PY=${PY:-/work/venv/bin/python}
$PY -m core.train --data everyday50-train-jpg --output-dir runs/everyday50-resnet-prog \
  --arch-kwargs '{"widths": [64, 128, 256, 384], "stem_width": 32, "stem_stride": 1}' \
  --epochs 100 --batch-size 512 --lr 0.75 --momentum 0.85 --wd 1.33e-3 --warmup 0.23 --label-smoothing 0.1 \
  --augment flip,translate --translate 4 --cutmix 1.0 --lookahead --norm-bias-lr-scale 64 --progressive 32 --tta 1 \
  --max-minutes 140 --resume >> logs/everyday50-resnet-prog.log 2>&1
