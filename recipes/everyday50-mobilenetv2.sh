#!/usr/bin/env bash
# Makes checkpoints/everyday50-mobilenetv2 again: one mobilenetv2 network trained on everyday50-train-jpg.tar.gz.
# Expect validation top-1 80.16% on 2,500 held-out images, test-time augmentation level 1; its networks trained for 80 minutes on 2 CPU cores.
# Its training stopped at its --max-minutes limit after 6 of 7 epochs, so the limit stays: a faster machine fits more.
# Written by `python -m core.recipes` from checkpoints/everyday50-mobilenetv2: run that again rather than editing this file.
# Usage: recipes/everyday50-mobilenetv2.sh [DATA_DIR]   (default: ../shared/data beside the repository); PYTHON=python3.11 picks the interpreter.
set -euo pipefail
PYTHON=${PYTHON:-python}
DATA=$(cd "${1:-$(dirname "$0")/../../shared/data}" && pwd)  # the folder holding the datasets
cd "$(dirname "$0")/.."
export WTCS_DATA_DIR="$DATA"  # a dataset named below is looked up there

"$PYTHON" -m core.train \
    --data everyday50-train-jpg.tar.gz \
    --output-dir checkpoints/everyday50-mobilenetv2 \
    --arch mobilenetv2 \
    --epochs 7 \
    --batch-size 128 \
    --micro-batch 16 \
    --lr 0.02 \
    --wd 0.0001 \
    --warmup 0.1 \
    --label-smoothing 0.1 \
    --augment flip,translate,scale \
    --scale-min 0.5 \
    --input-size 192 \
    --init-from checkpoints/imagenet-mobilenetv2 \
    --freeze stage3 \
    --backbone-lr-scale 0.1 \
    --max-minutes 89.0

"$PYTHON" -m core.bundle checkpoints/everyday50-mobilenetv2 \
    --per-class 6 \
    --wise 0.8 \
    --float16
