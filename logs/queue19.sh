#!/usr/bin/env bash
# Session 15: re-measure the shipped checkpoints with the forward pass `python -m core.evaluate` uses (bfloat16
# autocast; the ensemble and int8 figures had been measured in float32, one image apart), and ship everyday50-resnet
# as five networks in int4. The CIFAR-10 evaluation samples shrink to 30 images per class to fit 40 MB.
set -e
cd "$(dirname "$0")/.."
PY=${PY:-/work/venv/bin/python}
E50=../shared/data/everyday50-train-jpg.tar.gz
C10=../shared/data/cifar10-train-jpg.tar.gz
$PY -m core.ensemble runs/everyday50-resnet runs/everyday50-resnet-group runs/everyday50-resnet-prog \
  runs/everyday50-resnet-c2 runs/everyday50-resnet-kd --output-dir runs/everyday50-ensemble5 --tta 2 --int4
$PY -m core.bundle checkpoints/everyday50-resnet --per-class 8 --promote runs/everyday50-ensemble5
$PY -m core.evaluate --checkpoint checkpoints/everyday50-resnet --data $E50 --split val --json > logs/everyday50-resnet-ensemble5-evaluate.json
$PY -m core.ensemble runs/cifar10-resnet runs/cifar10-resnet-group64 runs/cifar10-resnet-seed1 \
  --output-dir runs/cifar10-ensemble3 --tta 2 --int8
$PY -m core.bundle checkpoints/cifar10-resnet --per-class 30 --promote runs/cifar10-ensemble3
$PY -m core.evaluate --checkpoint checkpoints/cifar10-resnet --data $C10 --split val --json > logs/cifar10-resnet-ensemble3-evaluate.json
$PY -m core.bundle checkpoints/cifar10-simplecnn --per-class 30 --promote runs/cifar10-simplecnn-float --int8
$PY -m core.evaluate --checkpoint checkpoints/cifar10-simplecnn --data $C10 --split val --json > logs/cifar10-simplecnn-int8-evaluate.json
echo DONE
