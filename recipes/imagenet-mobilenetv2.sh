#!/usr/bin/env bash
# Makes checkpoints/imagenet-mobilenetv2 again: MobileNetV2 converted from published ImageNet weights (mobilenet_v2_1.0_224_quant.tflite).
# Expect what its card (README.md) says was measured.
# Written by `python -m core.recipes` from checkpoints/imagenet-mobilenetv2: run that again rather than editing this file.
# Usage: recipes/imagenet-mobilenetv2.sh [PRETRAINED_DIR]   (default: ../shared/pretrained beside the repository); PYTHON=python3.11 picks the interpreter.
set -euo pipefail
PYTHON=${PYTHON:-python}
PRETRAINED=$(cd "${1:-$(dirname "$0")/../../shared/pretrained}" && pwd)  # the weights and labels
cd "$(dirname "$0")/.."

"$PYTHON" -m core.convert \
    --tflite "$PRETRAINED/mobilenet_v2_1.0_224_quant.tflite" \
    --labels "$PRETRAINED/imagenet_labels.txt" \
    --input-size 224 \
    --output-dir checkpoints/imagenet-mobilenetv2
