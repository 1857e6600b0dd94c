#!/usr/bin/env bash
# Session 18: after logs/queue32.sh. The narrow network joins cifar10-resnet only if four networks score above 94.02%
# on validation; if the 40 MB budget then has no room, everyday50-resnet ships members 1, 3, 5, 6 and 7
# (runs/everyday50-ensemble5s from logs/queue31.sh: 68.52%).
set -e
cd "$(dirname "$0")/.."
PY=${PY:-/work/venv/bin/python}
$PY -m core.ensemble checkpoints/cifar10-resnet runs/cifar10-resnet-narrow --output-dir runs/cifar10-ensemble4n \
  --tta 2 --int4 --int4-from stage3 | tee logs/cifar10-ensemble4n.log
if ! $PY -c "import json,sys; sys.exit(0 if json.load(open('runs/cifar10-ensemble4n/metrics.json'))['val']['top1'] > 0.9402 + 1e-9 else 1)"; then
  echo "four networks do not beat three: nothing shipped" | tee -a logs/cifar10-ensemble4n.log; exit 0
fi
grow=$(( $(cat runs/cifar10-ensemble4n/model*.safetensors | wc -c) - $(cat checkpoints/cifar10-resnet/model*.safetensors | wc -c) ))
total=$(du -sb checkpoints | cut -f1)
echo "weights grow by $grow bytes; checkpoints/ now $total bytes" | tee -a logs/cifar10-ensemble4n.log
if (( total + grow > 39900000 )); then
  $PY -m core.bundle checkpoints/everyday50-resnet --per-class 8 --promote runs/everyday50-ensemble5s
  $PY -m core.evaluate --checkpoint checkpoints/everyday50-resnet --data ../shared/data/everyday50-train-jpg.tar.gz \
    --split val --json > logs/everyday50-resnet-ensemble5s-evaluate.json
fi
$PY -m core.bundle checkpoints/cifar10-resnet --per-class 30 --promote runs/cifar10-ensemble4n
$PY -m core.evaluate --checkpoint checkpoints/cifar10-resnet --data ../shared/data/cifar10-train-jpg.tar.gz \
  --split val --json > logs/cifar10-resnet-ensemble4n-evaluate.json
du -b checkpoints | tail -1
echo DONE
