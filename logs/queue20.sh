#!/usr/bin/env bash
# Session 15: ship everyday50-resnet from the five best runs with the fifth under its true recipe. The run started
# by logs/queue18.sh as a distillation was, because of a bug (CutMix mixed the labels, not the teacher's soft
# targets; fixed in commit b198f69), a plain run of the first network's recipe with --seed 2 --split-seed 0: its
# folder is renamed runs/everyday50-resnet-seed2 and its recorded recipe says so (the teacher never reached a target,
# and the teacher's pass over the images draws no random numbers, so that command gives the same network).
set -e
cd "$(dirname "$0")/.."
PY=${PY:-/work/venv/bin/python}
$PY -m core.ensemble runs/everyday50-resnet runs/everyday50-resnet-group runs/everyday50-resnet-prog \
  runs/everyday50-resnet-c2 runs/everyday50-resnet-seed2 --output-dir runs/everyday50-ensemble5 --tta 2 --int4
$PY -m core.bundle checkpoints/everyday50-resnet --per-class 8 --promote runs/everyday50-ensemble5
$PY -m core.evaluate --checkpoint checkpoints/everyday50-resnet --data ../shared/data/everyday50-train-jpg.tar.gz \
  --split val --json > logs/everyday50-resnet-ensemble5-evaluate.json
echo DONE
