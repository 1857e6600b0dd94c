#!/usr/bin/env bash
# Session 20: member 3's recipe (logs/queue29.sh) with seed 4 at its full 34 epochs, to replace the weakest shipped
# CIFAR-10 network (member 4: 24 epochs, 92.92% alone) at the same size. Rule, fixed before it ran: the new network
# replaces member 4 only if members 1,2,3 with it score above the shipped four's 94.06% on validation (tta 2,
# int4 from stage3); otherwise nothing ships. Kept only if the machine trains an epoch in about 200 s or less.
cd "$(dirname "$0")/.."
export OMP_WAIT_POLICY=PASSIVE
PY=${PY:-/work/venv/bin/python}
$PY -m core.train --data cifar10-train-jpg --output-dir runs/cifar10-resnet-seed4 \
  --arch-kwargs '{"widths": [128, 384, 384], "depth": 2, "stem": "whiten", "shortcut": "group", "dirac": true}' \
  --epochs 34 --batch-size 512 --lr 0.65 --momentum 0.85 --wd 1.33e-3 --warmup 0.23 --label-smoothing 0.2 \
  --augment altflip,translate,cutout --translate 4 --cutout 12 --lookahead --norm-bias-lr-scale 64 --tta 2 \
  --seed 4 --split-seed 0 --max-minutes ${MAX_MINUTES:-125} --resume >> logs/cifar10-resnet-seed4.log 2>&1
echo "train exit $?" >> logs/cifar10-resnet-seed4.log
