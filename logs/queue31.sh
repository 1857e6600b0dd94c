#!/usr/bin/env bash
# Session 18: the shipped ensembles rebuilt from their own folders with core.ensemble's new member specs (their runs
# are gone): cifar10-resnet whole (should reproduce 94.02% and its weights), and everyday50-resnet without members
# 2 and 4 (what the planned four-network cifar10-resnet would have cost it). Nothing here is shipped.
set -e
cd "$(dirname "$0")/.."
PY=${PY:-/work/venv/bin/python}
$PY -m core.ensemble checkpoints/cifar10-resnet --output-dir runs/cifar10-rebuilt --tta 2 --int4 --int4-from stage3 \
  | tee logs/cifar10-resnet-rebuilt.log
cmp checkpoints/cifar10-resnet/model.safetensors runs/cifar10-rebuilt/model.safetensors && \
  cmp checkpoints/cifar10-resnet/model.2.safetensors runs/cifar10-rebuilt/model.2.safetensors && \
  echo "weights: the same bytes" | tee -a logs/cifar10-resnet-rebuilt.log
$PY -m core.ensemble checkpoints/everyday50-resnet:1,3,5,6,7 --output-dir runs/everyday50-ensemble5s --tta 2 --int4 \
  | tee logs/everyday50-ensemble5s.log
echo DONE
