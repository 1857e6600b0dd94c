#!/usr/bin/env bash
# Makes checkpoints/cifar10-simplecnn again: one simplecnn network trained on cifar10-train-jpg.
# Expect validation top-1 86.04% on 5,000 held-out images, test-time augmentation level 1; its networks trained for 24 minutes on 2 CPU cores.
# Written by `python -m core.recipes` from checkpoints/cifar10-simplecnn: run that again rather than editing this file.
# Usage: recipes/cifar10-simplecnn.sh [DATA_DIR]   (default: ../shared/data beside the repository); PYTHON=python3.11 picks the interpreter.
set -euo pipefail
PYTHON=${PYTHON:-python}
DATA=$(cd "${1:-$(dirname "$0")/../../shared/data}" && pwd)  # the folder holding the datasets
cd "$(dirname "$0")/.."
export WTCS_DATA_DIR="$DATA"  # a dataset named below is looked up there

"$PYTHON" -m core.train \
    --data cifar10-train-jpg \
    --output-dir checkpoints/cifar10-simplecnn \
    --arch simplecnn \
    --arch-kwargs '{"width": 64, "hidden": 512}' \
    --epochs 12 \
    --optimizer adamw \
    --lr 0.003 \
    --wd 0.05 \
    --label-smoothing 0.1 \
    --dropout 0.3

"$PYTHON" -m core.train \
    --data cifar10-train-jpg \
    --output-dir checkpoints/cifar10-simplecnn \
    --arch simplecnn \
    --arch-kwargs '{"width": 64, "hidden": 512, "dropout": 0.3}' \
    --epochs 14 \
    --optimizer adamw \
    --lr 0.0015 \
    --wd 0.05 \
    --warmup 0.15 \
    --label-smoothing 0.1 \
    --init-from checkpoints/cifar10-simplecnn

"$PYTHON" -m core.bundle checkpoints/cifar10-simplecnn \
    --per-class 30 \
    --int8
