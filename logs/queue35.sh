#!/usr/bin/env bash
# Session 19: runs after logs/queue34.sh and applies logs/queue30.sh's rule to its network (fixed before it ran).
# At ~320 s an epoch the 24 epochs may outlast queue34's 125-minute limit: then the run is resumed with a longer one
# (the resume file keeps the exact batch), up to twice.
cd "$(dirname "$0")/.."
PY=${PY:-/work/venv/bin/python}
while pgrep -f logs/queue34.sh > /dev/null; do sleep 30; done
limit=125
for attempt in 1 2; do
  stopped=$($PY -c "import json; print(json.load(open('runs/cifar10-resnet-seed3/metrics.json')).get('stopped_early'))")
  [ "$stopped" = "time limit" ] || break
  limit=$((limit + 30))
  echo "stopped by the time limit: resuming with --max-minutes $limit"
  MAX_MINUTES=$limit bash logs/queue34.sh
done
grep -q "train exit 0" logs/cifar10-resnet-seed3.log || { echo "training failed: nothing shipped"; exit 1; }
[ "$($PY -c "import json; print(json.load(open('runs/cifar10-resnet-seed3/metrics.json')).get('stopped_early'))")" = None ] \
  || { echo "training did not finish: nothing shipped"; exit 1; }
exec bash logs/queue30.sh
