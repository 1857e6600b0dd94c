#!/usr/bin/env bash
# Session 20: runs after logs/queue36.sh and applies its rule, fixed before it ran: the seed-4 network replaces
# member 4 of cifar10-resnet only if members 1,2,3 with it score above the shipped four's 94.06% on validation.
# If queue36's time limit stops the run in its last epochs, it is resumed once (the resume file keeps the batch).
cd "$(dirname "$0")/.."
PY=${PY:-/work/venv/bin/python}
RUN=runs/cifar10-resnet-seed4
while pgrep -f logs/queue36.sh > /dev/null; do sleep 30; done
stopped() { $PY -c "import json; print(json.load(open('$RUN/metrics.json')).get('stopped_early'))"; }
if [ "$(stopped)" = "time limit" ]; then
  echo "stopped by the time limit: resuming with --max-minutes ${RESUME_MINUTES:-145}"
  MAX_MINUTES=${RESUME_MINUTES:-145} bash logs/queue36.sh
fi
grep -q "train exit 0" logs/cifar10-resnet-seed4.log || { echo "training failed: nothing shipped"; exit 1; }
[ "$(stopped)" = None ] || { echo "training did not finish: nothing shipped"; exit 1; }
set -e
$PY -m core.ensemble checkpoints/cifar10-resnet:1,2,3 $RUN --output-dir runs/cifar10-ensemble4b \
  --tta 2 --int4 --int4-from stage3 | tee logs/cifar10-ensemble4b.log
if ! $PY -c "import json,sys; sys.exit(0 if json.load(open('runs/cifar10-ensemble4b/metrics.json'))['val']['top1'] > 0.9406 + 1e-9 else 1)"; then
  echo "the seed-4 network does not beat member 4: nothing shipped" | tee -a logs/cifar10-ensemble4b.log; exit 0
fi
$PY -m core.bundle checkpoints/cifar10-resnet --per-class 30 --promote runs/cifar10-ensemble4b
$PY -m core.evaluate --checkpoint checkpoints/cifar10-resnet --data ../shared/data/cifar10-train-jpg.tar.gz \
  --split val --json > logs/cifar10-resnet-ensemble4b-evaluate.json
du -b checkpoints | tail -1
echo DONE
