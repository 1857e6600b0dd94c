#!/usr/bin/env bash
# Session 16: cifar10-resnet's three networks stored with int4 from stage3 on (the stem, stage1, stage2 and the
# classifier int8): 94.02% on validation as in int8, in 17.2 MB instead of 22.4 MB, which leaves room for more
# everyday50 networks under the 40 MB budget.
set -e
cd "$(dirname "$0")/.."
PY=${PY:-/work/venv/bin/python}
[ -d runs/cifar10-ensemble3m ] || $PY -m core.ensemble runs/cifar10-resnet runs/cifar10-resnet-group64 \
  runs/cifar10-resnet-seed1 --output-dir runs/cifar10-ensemble3m --tta 2 --int4 --int4-from stage3
$PY -m core.bundle checkpoints/cifar10-resnet --per-class 30 --promote runs/cifar10-ensemble3m
$PY -m core.evaluate --checkpoint checkpoints/cifar10-resnet --data ../shared/data/cifar10-train-jpg.tar.gz \
  --split val --json > logs/cifar10-resnet-ensemble3m-evaluate.json
echo DONE
