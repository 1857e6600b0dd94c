#!/usr/bin/env bash
# Makes checkpoints/everyday50-resnet again: an ensemble of 5 networks trained on everyday50-train-jpg.
# Expect validation top-1 68.52% on 2,500 held-out images, test-time augmentation level 2; its networks trained for 631 minutes on 2 CPU cores.
# Written by `python -m core.recipes` from checkpoints/everyday50-resnet: run that again rather than editing this file.
# Usage: recipes/everyday50-resnet.sh [DATA_DIR]   (default: ../shared/data beside the repository); PYTHON=python3.11 picks the interpreter.
set -euo pipefail
PYTHON=${PYTHON:-python}
DATA=$(cd "${1:-$(dirname "$0")/../../shared/data}" && pwd)  # the folder holding the datasets
cd "$(dirname "$0")/.."
export WTCS_DATA_DIR="$DATA"  # a dataset named below is looked up there

"$PYTHON" -m core.train \
    --data everyday50-train-jpg \
    --output-dir runs/everyday50-resnet \
    --arch-kwargs '{"widths": [64, 128, 256, 384], "stem_width": 32, "stem_stride": 1}' \
    --epochs 28 \
    --batch-size 512 \
    --lr 0.75 \
    --momentum 0.85 \
    --wd 0.00133 \
    --warmup 0.23 \
    --label-smoothing 0.1 \
    --translate 4 \
    --cutmix 1.0 \
    --lookahead \
    --norm-bias-lr-scale 64.0

"$PYTHON" -m core.train \
    --data everyday50-train-jpg \
    --output-dir runs/everyday50-resnet-prog \
    --arch-kwargs '{"widths": [64, 128, 256, 384], "stem_width": 32, "stem_stride": 1}' \
    --epochs 100 \
    --batch-size 512 \
    --lr 0.75 \
    --momentum 0.85 \
    --wd 0.00133 \
    --warmup 0.23 \
    --label-smoothing 0.1 \
    --translate 4 \
    --cutmix 1.0 \
    --progressive 32 \
    --lookahead \
    --norm-bias-lr-scale 64.0

"$PYTHON" -m core.train \
    --data everyday50-train-jpg \
    --output-dir runs/everyday50-resnet-seed2 \
    --arch-kwargs '{"widths": [64, 128, 256, 384], "stem_width": 32, "stem_stride": 1}' \
    --epochs 28 \
    --batch-size 512 \
    --lr 0.75 \
    --momentum 0.85 \
    --wd 0.00133 \
    --warmup 0.23 \
    --label-smoothing 0.1 \
    --translate 4 \
    --cutmix 1.0 \
    --lookahead \
    --norm-bias-lr-scale 64.0 \
    --seed 2 \
    --split-seed 0

"$PYTHON" -m core.train \
    --data everyday50-train-jpg \
    --output-dir runs/everyday50-resnet-group \
    --arch-kwargs '{"widths": [64, 128, 256, 384], "stem_width": 32, "stem_stride": 1, "depth": 2, "shortcut": "group"}' \
    --epochs 28 \
    --batch-size 512 \
    --lr 0.75 \
    --momentum 0.85 \
    --wd 0.00133 \
    --warmup 0.23 \
    --label-smoothing 0.1 \
    --translate 4 \
    --cutmix 1.0 \
    --lookahead \
    --norm-bias-lr-scale 64.0

"$PYTHON" -m core.train \
    --data everyday50-train-jpg \
    --output-dir runs/everyday50-resnet-c2 \
    --arch-kwargs '{"widths": [64, 128, 256, 384], "stem_width": 32, "stem_stride": 1}' \
    --batch-size 512 \
    --lr 0.4 \
    --momentum 0.85 \
    --wd 0.00133 \
    --warmup 0.15 \
    --label-smoothing 0.1 \
    --translate 4 \
    --cutmix 1.0 \
    --lookahead \
    --norm-bias-lr-scale 64.0 \
    --init-from runs/everyday50-resnet

"$PYTHON" -m core.train \
    --data everyday50-train-jpg \
    --output-dir runs/everyday50-resnet-scale \
    --arch-kwargs '{"widths": [64, 128, 256, 384], "stem_width": 32, "stem_stride": 1}' \
    --epochs 36 \
    --batch-size 512 \
    --lr 0.75 \
    --momentum 0.85 \
    --wd 0.00133 \
    --warmup 0.23 \
    --label-smoothing 0.1 \
    --augment flip,scale \
    --cutmix 1.0 \
    --lookahead \
    --norm-bias-lr-scale 64.0

"$PYTHON" -m core.ensemble runs/everyday50-resnet runs/everyday50-resnet-group runs/everyday50-resnet-prog runs/everyday50-resnet-c2 runs/everyday50-resnet-scale \
    --output-dir runs/everyday50-teacher5

"$PYTHON" -m core.train \
    --data everyday50-train-jpg \
    --output-dir runs/everyday50-resnet-kd \
    --arch-kwargs '{"widths": [64, 128, 256, 384], "stem_width": 32, "stem_stride": 1}' \
    --epochs 28 \
    --batch-size 512 \
    --lr 0.75 \
    --momentum 0.85 \
    --wd 0.00133 \
    --warmup 0.23 \
    --label-smoothing 0.1 \
    --translate 4 \
    --cutmix 1.0 \
    --lookahead \
    --norm-bias-lr-scale 64.0 \
    --seed 2 \
    --split-seed 0 \
    --teacher runs/everyday50-teacher5 \
    --distill 0.7

"$PYTHON" -m core.train \
    --data everyday50-train-jpg \
    --output-dir runs/everyday50-resnet-e40 \
    --arch-kwargs '{"widths": [64, 128, 256, 384], "stem_width": 32, "stem_stride": 1}' \
    --epochs 40 \
    --batch-size 512 \
    --lr 0.75 \
    --momentum 0.85 \
    --wd 0.00133 \
    --warmup 0.23 \
    --label-smoothing 0.1 \
    --translate 4 \
    --cutmix 1.0 \
    --lookahead \
    --norm-bias-lr-scale 64.0 \
    --seed 4 \
    --split-seed 0

"$PYTHON" -m core.ensemble runs/everyday50-resnet runs/everyday50-resnet-prog runs/everyday50-resnet-seed2 runs/everyday50-resnet-kd runs/everyday50-resnet-e40 \
    --output-dir checkpoints/everyday50-resnet \
    --tta 2 \
    --int4

"$PYTHON" -m core.bundle checkpoints/everyday50-resnet \
    --per-class 8
