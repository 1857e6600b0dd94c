#!/usr/bin/env bash
# Session 19: logs/queue29.sh again (member 3's recipe, seed 3) at 24 epochs: this session the machine trains
# it at ~265 s an epoch (34 epochs, killed after 2: logs/cifar10-resnet-seed3-34ep-s19-killed.log, would not finish).
# Same rule as logs/queue30.sh, fixed before it ran: the fourth network joins cifar10-resnet only if the four
# networks score above the three (94.02%) on validation; everyday50-resnet then keeps members 1,3,5,6,7.
cd "$(dirname "$0")/.."
export OMP_WAIT_POLICY=PASSIVE
PY=${PY:-/work/venv/bin/python}
$PY -m core.train --data cifar10-train-jpg --output-dir runs/cifar10-resnet-seed3 \
  --arch-kwargs '{"widths": [128, 384, 384], "depth": 2, "stem": "whiten", "shortcut": "group", "dirac": true}' \
  --epochs 24 --batch-size 512 --lr 0.65 --momentum 0.85 --wd 1.33e-3 --warmup 0.23 --label-smoothing 0.2 \
  --augment altflip,translate,cutout --translate 4 --cutout 12 --lookahead --norm-bias-lr-scale 64 --tta 2 \
  --seed 3 --split-seed 0 --max-minutes ${MAX_MINUTES:-125} --resume >> logs/cifar10-resnet-seed3.log 2>&1
echo "train exit $?" >> logs/cifar10-resnet-seed3.log
