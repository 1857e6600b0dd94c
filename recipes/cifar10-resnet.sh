#!/usr/bin/env bash
# Makes checkpoints/cifar10-resnet again: an ensemble of 4 networks trained on cifar10-train-jpg.
# Expect validation top-1 94.06% on 5,000 held-out images, test-time augmentation level 2; its networks trained for 560 minutes on 2 CPU cores.
# Written by `python -m core.recipes` from checkpoints/cifar10-resnet: run that again rather than editing this file.
# Usage: recipes/cifar10-resnet.sh [DATA_DIR]   (default: ../shared/data beside the repository); PYTHON=python3.11 picks the interpreter.
set -euo pipefail
PYTHON=${PYTHON:-python}
DATA=$(cd "${1:-$(dirname "$0")/../../shared/data}" && pwd)  # the folder holding the datasets
cd "$(dirname "$0")/.."
export WTCS_DATA_DIR="$DATA"  # a dataset named below is looked up there

"$PYTHON" -m core.train \
    --data cifar10-train-jpg \
    --output-dir runs/cifar10-resnet \
    --arch-kwargs '{"widths": [128, 384, 384], "depth": 2, "stem": "whiten", "shortcut": "group", "dirac": true}' \
    --epochs 46 \
    --batch-size 512 \
    --lr 0.65 \
    --momentum 0.85 \
    --wd 0.00133 \
    --warmup 0.23 \
    --label-smoothing 0.2 \
    --augment altflip,translate,cutout \
    --translate 4 \
    --cutout 12 \
    --lookahead \
    --norm-bias-lr-scale 64.0 \
    --tta 2

"$PYTHON" -m core.train \
    --data cifar10-train-jpg \
    --output-dir runs/cifar10-resnet-group64 \
    --arch-kwargs '{"widths": [128, 384, 384], "depth": 2, "stem": "whiten", "shortcut": "group", "dirac": true}' \
    --epochs 64 \
    --batch-size 512 \
    --lr 0.65 \
    --momentum 0.85 \
    --wd 0.00133 \
    --warmup 0.23 \
    --label-smoothing 0.2 \
    --augment altflip,translate,cutout \
    --translate 4 \
    --cutout 12 \
    --lookahead \
    --norm-bias-lr-scale 64.0 \
    --tta 2

"$PYTHON" -m core.train \
    --data cifar10-train-jpg \
    --output-dir runs/cifar10-resnet-seed1 \
    --arch-kwargs '{"widths": [128, 384, 384], "depth": 2, "stem": "whiten", "shortcut": "group", "dirac": true}' \
    --epochs 34 \
    --batch-size 512 \
    --lr 0.65 \
    --momentum 0.85 \
    --wd 0.00133 \
    --warmup 0.23 \
    --label-smoothing 0.2 \
    --augment altflip,translate,cutout \
    --translate 4 \
    --cutout 12 \
    --lookahead \
    --norm-bias-lr-scale 64.0 \
    --tta 2 \
    --seed 1 \
    --split-seed 0

"$PYTHON" -m core.train \
    --data cifar10-train-jpg \
    --output-dir runs/cifar10-resnet-seed3 \
    --arch-kwargs '{"widths": [128, 384, 384], "depth": 2, "stem": "whiten", "shortcut": "group", "dirac": true}' \
    --epochs 24 \
    --batch-size 512 \
    --lr 0.65 \
    --momentum 0.85 \
    --wd 0.00133 \
    --warmup 0.23 \
    --label-smoothing 0.2 \
    --augment altflip,translate,cutout \
    --translate 4 \
    --cutout 12 \
    --lookahead \
    --norm-bias-lr-scale 64.0 \
    --tta 2 \
    --seed 3 \
    --split-seed 0

"$PYTHON" -m core.ensemble runs/cifar10-resnet runs/cifar10-resnet-group64 runs/cifar10-resnet-seed1 runs/cifar10-resnet-seed3 \
    --output-dir checkpoints/cifar10-resnet \
    --tta 2 \
    --int4 \
    --int4-from stage3

"$PYTHON" -m core.bundle checkpoints/cifar10-resnet \
    --per-class 30
