#!/usr/bin/env bash
# everyday50 on a larger network: the shipped 28-epoch recipe (checkpoints/everyday50-resnet) with airbench96's
# stage layout (two convolutions per stage behind one skip connection, shortcut "group"): ~5.5 M parameters instead
# of 3.4 M. Both a longer run and stronger augmentation lost to the shipped recipe, so capacity is what is left.
# Resumable: started at the end of session 11 with MAX_MINUTES set low, then continued with the same command
# (--resume; --max-minutes counts the whole run, resumes included) until it finishes.
# Promoted by hand only if it beats the shipped checkpoint on validation.
cd "$(dirname "$0")/.."
while pgrep -f "logs/queue14.sh" > /dev/null; do sleep 20; done
export OMP_WAIT_POLICY=PASSIVE
PY=${PY:-/work/venv/bin/python}
$PY -m core.train --data everyday50-train-jpg --output-dir runs/everyday50-resnet-group \
  --arch-kwargs '{"widths": [64, 128, 256, 384], "stem_width": 32, "stem_stride": 1, "depth": 2, "shortcut": "group"}' \
  --epochs 28 --batch-size 512 --lr 0.75 --momentum 0.85 --wd 1.33e-3 --warmup 0.23 --label-smoothing 0.1 \
  --translate 4 --cutmix 1.0 --lookahead --norm-bias-lr-scale 64 \
  --max-minutes "${MAX_MINUTES:-120}" --resume >> logs/everyday50-resnet-group.log 2>&1
