#!/usr/bin/env bash
# Session 8, third slot, after queue8: a second cycle for each ResNet, fine-tuned from the promoted checkpoint
# (the first stage promotes only if it beats the shipped model on validation). CIFAR-10 adds cutout (a second
# cycle with cutout added a point to the narrower model); everyday50 re-anneals (its first cycle was still
# climbing). Each result is promoted by hand only if it beats its checkpoint on validation.
cd "$(dirname "$0")/.."
while pgrep -f "logs/queue8.sh" > /dev/null; do sleep 20; done
export OMP_WAIT_POLICY=PASSIVE
PY=${PY:-/work/venv/bin/python}
better() {  # better RUN CHECKPOINT: is the run's validation top-1 above the checkpoint's?
  $PY -c "import json,sys; t=lambda p: json.load(open(p + '/metrics.json'))['val']['top1']; sys.exit(0 if t('$1') > t('$2') else 1)"
}
if better runs/cifar10-resnet-whiten checkpoints/cifar10-resnet; then
  $PY -c "from core.bundle import promote; promote('runs/cifar10-resnet-whiten', 'checkpoints/cifar10-resnet')"
  $PY -m core.train --data cifar10-train-jpg --output-dir runs/cifar10-resnet-c2 --init-from checkpoints/cifar10-resnet \
    --epochs 12 --batch-size 512 --lr 0.4 --momentum 0.85 --wd 1.33e-3 --warmup 0.15 --label-smoothing 0.2 \
    --augment altflip,translate,cutout --translate 2 --cutout 8 --lookahead --norm-bias-lr-scale 64 --tta 2 \
    --max-minutes 26 --resume >> logs/cifar10-resnet-whiten-c2.log 2>&1
fi
$PY -m core.train --data everyday50-train-jpg --output-dir runs/everyday50-resnet-c2 --init-from checkpoints/everyday50-resnet \
  --epochs 16 --batch-size 512 --lr 0.4 --momentum 0.85 --wd 1.33e-3 --warmup 0.15 --label-smoothing 0.1 \
  --augment flip,translate --translate 4 --cutmix 1.0 --lookahead --norm-bias-lr-scale 64 --tta 1 \
  --max-minutes 32 --resume >> logs/everyday50-resnet-s1-c2.log 2>&1
