#!/usr/bin/env bash
# Session 17: everyday50-resnet with the 40-epoch network (logs/queue26.sh) as a seventh member, by the rule fixed
# before its figure was known (a run joins if it scores 63.5% or more alone and the 40 MB budget has room; int4 adds
# about 1.93 MB to 36.69 MB).
set -e
cd "$(dirname "$0")/.."
PY=${PY:-/work/venv/bin/python}
$PY -m core.ensemble runs/everyday50-resnet runs/everyday50-resnet-group runs/everyday50-resnet-prog \
  runs/everyday50-resnet-c2 runs/everyday50-resnet-seed2 runs/everyday50-resnet-kd runs/everyday50-resnet-e40 \
  --output-dir runs/everyday50-ensemble7e --tta 2 --int4 | tee logs/everyday50-ensemble7e.log
$PY -m core.bundle checkpoints/everyday50-resnet --per-class 8 --promote runs/everyday50-ensemble7e
$PY -m core.evaluate --checkpoint checkpoints/everyday50-resnet --data ../shared/data/everyday50-train-jpg.tar.gz \
  --split val --json > logs/everyday50-resnet-ensemble7e-evaluate.json
du -b checkpoints | tail -1
echo DONE
