#!/usr/bin/env bash
# Session 9, after queue10: promote the progressive everyday50 run only if it beats the shipped checkpoint on
# validation, rebuild its bundled evaluation sample (20 per class) and caches, and re-measure it with core.evaluate.
cd "$(dirname "$0")/.."
while pgrep -f "logs/queue10.sh" > /dev/null; do sleep 20; done
export OMP_WAIT_POLICY=PASSIVE
PY=${PY:-/work/venv/bin/python}
better() {  # better RUN CHECKPOINT: is the run's validation top-1 above the checkpoint's?
  $PY -c "import json,sys; t=lambda p: json.load(open(p + '/metrics.json'))['val']['top1']; sys.exit(0 if t('$1') > t('$2') else 1)"
}
if better runs/everyday50-resnet-prog checkpoints/everyday50-resnet; then
  $PY -m core.bundle checkpoints/everyday50-resnet --per-class 20 --promote runs/everyday50-resnet-prog
  $PY -m core.evaluate --checkpoint checkpoints/everyday50-resnet --data everyday50-train-jpg --split val --json \
    > logs/everyday50-resnet-prog-evaluate.json
  $PY -m core.evaluate --checkpoint checkpoints/everyday50-resnet --data everyday50-train-jpg --split val --tta 2 --json \
    > logs/everyday50-resnet-prog-evaluate-tta2.json
fi
