#!/usr/bin/env bash
# Session 16: everyday50-resnet from six networks (int4), with the room cifar10-resnet's int4-from-stage3 weights
# freed: the five shipped before and the distilled one (logs/queue21.sh). The rule fixed before its figure was known:
# every everyday50 run that scores 63.5% or more alone joins (so not the random-resized-crop run, 62.44%).
set -e
cd "$(dirname "$0")/.."
PY=${PY:-/work/venv/bin/python}
$PY -m core.ensemble runs/everyday50-resnet runs/everyday50-resnet-group runs/everyday50-resnet-prog \
  runs/everyday50-resnet-c2 runs/everyday50-resnet-seed2 runs/everyday50-resnet-kd --output-dir runs/everyday50-ensemble6 \
  --tta 2 --int4
$PY -m core.bundle checkpoints/everyday50-resnet --per-class 8 --promote runs/everyday50-ensemble6
$PY -m core.evaluate --checkpoint checkpoints/everyday50-resnet --data ../shared/data/everyday50-train-jpg.tar.gz \
  --split val --json > logs/everyday50-resnet-ensemble6-evaluate.json
echo DONE
