#!/usr/bin/env bash
# Session 19: runs after logs/queue34.sh and applies logs/queue30.sh's rule to its network (fixed before it ran).
cd "$(dirname "$0")/.."
while pgrep -f logs/queue34.sh > /dev/null; do sleep 30; done
grep -q "train exit 0" logs/cifar10-resnet-seed3.log || { echo "training did not finish: nothing shipped"; exit 1; }
exec bash logs/queue30.sh
