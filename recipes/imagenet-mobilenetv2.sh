#!/usr/bin/env bash
# Makes checkpoints/imagenet-mobilenetv2 again: MobileNetV2 converted from published ImageNet weights (mobilenet_v2_1.0_224_quant.tflite).
# Expect what its card (README.md) says was measured.
# Written by `python -m core.recipes` from checkpoints/imagenet-mobilenetv2: run that again rather than editing this file.
# Usage: recipes/imagenet-mobilenetv2.sh [PRETRAINED_DIR [DATA_DIR]]   (defaults: ../shared/pretrained and ../shared/data beside the repository); PYTHON=python3.11 picks the interpreter.
set -euo pipefail
PYTHON=${PYTHON:-python}
PRETRAINED=$(cd "${1:-$(dirname "$0")/../../shared/pretrained}" && pwd)  # the weights and labels
DATA=$(cd "${2:-$(dirname "$0")/../../shared/data}" && pwd)  # the dataset of the evaluation sample
cd "$(dirname "$0")/.."
export WTCS_DATA_DIR="$DATA"  # a dataset named below is looked up there

"$PYTHON" -m core.convert \
    --tflite "$PRETRAINED/mobilenet_v2_1.0_224_quant.tflite" \
    --labels "$PRETRAINED/imagenet_labels.txt" \
    --input-size 192 \
    --weight-format int8 \
    --sample-data everyday50-train-jpg.tar.gz \
    --per-class 10 \
    --output-dir checkpoints/imagenet-mobilenetv2

"$PYTHON" -m core.unsure \
    --checkpoint checkpoints/imagenet-mobilenetv2 \
    --photos "$PRETRAINED/samples" \
    --write
