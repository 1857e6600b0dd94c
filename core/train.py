"""Training: one loop for the command line, the background jobs of the Train tab, and torchrun (DDP).

    python -m core.train --data cifar10-train-jpg --arch resnet --epochs 16 --output-dir checkpoints/NAME
    torchrun --nproc_per_node 2 -m core.train --data ... (data-parallel, gloo on CPU / nccl on CUDA)

The CPU fast path follows airbench: data stays a uint8 tensor and is augmented in whole batches,
the model runs channels_last under bfloat16 autocast (where the CPU has native bf16), the learning rate
follows a one-cycle schedule, and an optional lookahead EMA and flip test-time augmentation add the last
fraction of a percent. Each epoch ends with a validation pass, an atomic save of the best checkpoint, and a
resume file, so a killed run continues with ``--resume``. A ``--max-minutes`` limit that falls inside an epoch
saves the exact position instead (batch, partial figures, random-number state), so a run split over several
invocations ends with the same model and history as one run straight through (in a single process; under torchrun the
augmentations after a resume differ).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import pickle
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn

from core.augment import batch_cutout, batch_flip_alternating, batch_flip_lr, batch_mixup, batch_scale_crop, batch_translate, parse_augment
from core.checkpoint import Checkpoint, build_config, create_checked_model, load_checkpoint, read_config, save_checkpoint, weights_sha256
from core.config import (
    MAX_ARCH_KWARGS_CHARS,
    MIN_BATCH,
    MIN_STEPS_PER_EPOCH,
    OPTIMIZER_LR,
    SCHEDULES,
    SPLIT_KEYS,
    TrainConfig,
    default_lr,
    validate_config,
)
from core.data import ImageSet, channel_stats, load_train_val, parse_merge, resize_images
from core.device import bf16_helps, pick_device
from core.ensemble import member_entry
from core.errors import ConfigError, UserError
from core.evaluate import predict_logits, validation_figures
from core.models import count_parameters, fit_to_data, members, whitening_biases
from core.predict import to_model_input
from core.pretrained import is_torchvision, load_pretrained, pretrained_input_size
from core.report import model_card, plot_history

# ---------------------------------------------------------------------------------------------------------------
# Setup: the loop's own constants. The recipe's hyper-parameters and their defaults are TrainConfig's (core.config);
# the CLI flags and the Train tab both start from those.

WHITEN_BIAS_EPOCHS = 3  # airbench: the whitening stem's bias trains this many epochs, then stays put
WHITEN_FIT_IMAGES = 5000  # training images whose patches set the whitening filters
PROGRESSIVE_END = 0.75  # progressive resizing reaches the full input size at this share of the epochs
# Fine-tuning reports the starting network's validation figures before the first step (the curve starts where the
# model started), on at most this many pixels of validation images: CIFAR-10's whole 5,000 at 32 px, ~100 at 224 px
# (a few seconds on one CPU thread, not minutes).
START_VAL_PIXELS = 5000 * 32 * 32


class Cancelled(Exception):
    """Raised inside ``train`` when ``should_stop`` asks to stop: nothing further is written."""


@dataclass
class TrainResult:
    output_dir: Path
    metrics: dict
    stopped_early: str | None = None  # "time limit", "early stop" or None


# ---------------------------------------------------------------------------------------------------------------
# Device, precision, distribution


def _distributed() -> tuple[int, int]:
    """(rank, world size); initialises the process group when launched by torchrun."""
    world = int(os.environ.get("WORLD_SIZE", 1))
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return (dist.get_rank(), world) if world > 1 else (0, 1)


def _any_rank(flag: bool, world: int) -> bool:
    """True on every rank if ``flag`` is true on any (so all ranks stop together)."""
    if world == 1:
        return flag
    t = torch.tensor([1.0 if flag else 0.0])
    dist.all_reduce(t)
    return bool(t.item() > 0)


# ---------------------------------------------------------------------------------------------------------------
# Optimiser and schedule


def make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer:
    lr = cfg.lr or default_lr(cfg.optimizer, cfg.batch_size)
    params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    if cfg.init_from and cfg.backbone_lr_scale != 1.0:
        # fine-tuning: the new head learns at the full rate, the pretrained layers at a share of it
        head = [p for n, p in params if n.startswith("head.")]
        backbone = [p for n, p in params if not n.startswith("head.")]
        groups = [dict(params=head, lr=lr, weight_decay=cfg.wd),
                  dict(params=backbone, lr=lr * cfg.backbone_lr_scale, weight_decay=cfg.wd)]
    elif cfg.optimizer == "sgd" and cfg.norm_bias_lr_scale != 1.0:
        # BatchNorm biases get a larger step but the same per-step decay (lr * wd unchanged), as in airbench.
        s = cfg.norm_bias_lr_scale
        norm_bias = [p for n, p in params if p.ndim == 1]
        others = [p for n, p in params if p.ndim != 1]
        groups = [dict(params=norm_bias, lr=lr * s, weight_decay=cfg.wd / s), dict(params=others, lr=lr, weight_decay=cfg.wd)]
    else:
        groups = [dict(params=[p for _, p in params], lr=lr, weight_decay=cfg.wd)]
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, momentum=cfg.momentum, nesterov=cfg.momentum > 0)
    cls = torch.optim.AdamW if cfg.optimizer == "adamw" else torch.optim.Adam
    return cls(groups, betas=(cfg.momentum, 0.999))


def l1_weights(model: nn.Module) -> list[nn.Parameter]:
    """The weights L1 regularisation and the mean-|w| curve cover: trained (requires_grad) conv and linear weights,
    not biases or normalisation scales (one-dimensional)."""
    return [p for p in model.parameters() if p.requires_grad and p.ndim > 1]


@torch.no_grad()
def add_l1_gradient(weights: list[nn.Parameter], l1: float) -> None:
    """Add the (sub)gradient of ``l1 * sum(|w|)``, ``l1 * sign(w)``, to each weight's gradient: the same as putting
    the term in the loss, also under DDP (whose gradient hooks a second backward pass would trip)."""
    for w in weights:
        if w.grad is not None:
            w.grad.add_(torch.sign(w), alpha=l1)


@torch.no_grad()
def mean_abs_weight(weights: list[nn.Parameter]) -> float:
    """Mean |w| over ``weights`` (0.0 for none): what L1 regularisation and weight decay pull down."""
    count = sum(w.numel() for w in weights)
    return float(sum(w.abs().sum() for w in weights)) / count if count else 0.0


def lr_factor(step: int, total: int, cfg: TrainConfig, steps_per_epoch: int) -> float:
    """Multiplier on the base learning rate at ``step`` of ``total``."""
    frac = step / max(1, total)
    warm = cfg.warmup
    if cfg.schedule == "constant":
        return 1.0
    if cfg.schedule == "cyclic":  # triangular cycles of two epochs between 0.1x and 1x (Smith 2017)
        period = 2 * steps_per_epoch
        phase = (step % period) / period
        return 0.1 + 0.9 * (1 - abs(2 * phase - 1))
    if frac < warm:
        return 0.2 + 0.8 * frac / warm
    rest = (frac - warm) / max(1e-8, 1 - warm)
    if cfg.schedule == "cosine":
        return 0.5 * (1 + math.cos(math.pi * rest))
    return 1.0 - 0.93 * rest  # onecycle: linear down to 0.07x, airbench's shape


class Lookahead:
    """airbench's lookahead: an EMA of the weights whose decay grows over training; every few steps the
    model is pulled onto the average. At the end the model is the average."""

    def __init__(self, model: nn.Module):
        self.avg = {k: v.detach().clone() for k, v in model.state_dict().items()}

    def update(self, model: nn.Module, decay: float) -> None:
        with torch.no_grad():
            for (k, param) in model.state_dict().items():
                if param.dtype.is_floating_point:
                    self.avg[k].lerp_(param, 1 - decay)
                    param.copy_(self.avg[k])


# ---------------------------------------------------------------------------------------------------------------
# Model set-up (fresh, or fine-tuned from a checkpoint)


def fit_batch_to_data(cfg: TrainConfig, train_images: int) -> tuple[TrainConfig, str | None]:
    """Small data: when an epoch would have fewer than MIN_STEPS_PER_EPOCH batches and the learning rate is the
    default, the batch shrinks to the power of two (at least MIN_BATCH) that gives about that many, and the rate
    follows it (default_lr). With a learning rate given, nothing changes: the note says what would help.
    Returns (the config to train with, a note for the user or None)."""
    steps = train_images // cfg.batch_size
    if steps >= MIN_STEPS_PER_EPOCH:
        return cfg, None
    batch = max(MIN_BATCH, 2 ** int(math.log2(max(1, train_images // MIN_STEPS_PER_EPOCH))))
    if batch >= cfg.batch_size:
        return cfg, None
    if cfg.lr is not None:
        return cfg, (f"{train_images} training images make {max(1, steps)} step(s) of {cfg.batch_size} an epoch: "
                     f"too few to learn much; try a batch size of {batch} with a learning rate to match")
    new = replace(cfg, batch_size=batch)
    return new, (f"{train_images} training images would make {max(1, steps)} step(s) of {cfg.batch_size} an epoch, "
                 f"so the batch is {batch} ({train_images // batch} steps) at learning rate "
                 f"{default_lr(cfg.optimizer, batch):.3g} (the default rate scaled to the batch)")


def _build_model(cfg: TrainConfig, train_set: ImageSet) -> tuple[nn.Module, dict, Checkpoint | None]:
    """The model to train and its architecture options."""
    if not cfg.init_from:
        kwargs = dict(cfg.arch_kwargs)
        if cfg.dropout is not None:
            kwargs["dropout"] = cfg.dropout
        kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in kwargs.items()}
        return create_checked_model(cfg.arch, len(train_set.classes), train_set.input_size, **kwargs), kwargs, None
    base = load_pretrained(cfg.init_from)
    model = members(base.model)[0]  # an ensemble is fine-tuned from its first network (config's arch is that one's)
    kwargs = dict(base.config.get("arch_kwargs", {}))
    if train_set.classes != base.classes:  # a new head for the new class list
        replace_head(model, base.classes, train_set.classes)
    if cfg.dropout is not None:
        for m in model.modules():
            if isinstance(m, nn.Dropout):
                m.p = cfg.dropout
        kwargs["dropout"] = cfg.dropout
    frozen = frozen_stages(model, cfg)
    if cfg.micro_batch and cfg.micro_batch < cfg.batch_size and _trains_batch_norm(model, frozen):
        raise ConfigError("--micro-batch needs a network without batch norm in the layers it trains (batch norm's "
                          "statistics would come from the chunks, not the batch): leave it at 0 for this one")
    for name, stage in model.named_children():
        if name in frozen:
            stage.requires_grad_(False)
    return model, kwargs, base


def class_key(name: str) -> str:
    """A class name compared across datasets: "Golden_Retriever" and "golden retriever" are one class."""
    return " ".join(name.lower().replace("_", " ").replace("-", " ").split())


def new_head(old: nn.Linear, old_classes: list[str], classes: list[str]) -> nn.Linear:
    """A classifier for ``classes`` in place of ``old`` (trained for ``old_classes``). A class the old one knows (by
    ``class_key``) starts from its trained row, so a network pretrained on ImageNet already names everyday50's
    classes before the first step; the others start fresh."""
    head = nn.Linear(old.in_features, len(classes), bias=old.bias is not None)
    known = {class_key(c): i for i, c in enumerate(old_classes)}
    with torch.no_grad():
        for i, name in enumerate(classes):
            j = known.get(class_key(name))
            if j is not None:
                head.weight[i] = old.weight[j]
                if old.bias is not None:
                    head.bias[i] = old.bias[j]
    return head


def replace_head(model: nn.Module, old_classes: list[str], classes: list[str]) -> nn.Linear:
    """Give ``model`` (trained for ``old_classes``) a classifier for ``classes`` in place, made by ``new_head``;
    returns it."""
    head = model.head if hasattr(model, "head") else list(model.children())[-1]
    linear_index = max(i for i, m in enumerate(head) if isinstance(m, nn.Linear))
    head[linear_index] = new_head(head[linear_index], old_classes, classes)
    return head[linear_index]


def frozen_stages(model: nn.Module, cfg: TrainConfig) -> list[str]:
    """The stages fine-tuning keeps fixed: all but the head with ``freeze_backbone``, those up to ``freeze``.
    Raises ConfigError for a stage the network does not have."""
    names = [name for name, _ in model.named_children()]
    if cfg.freeze_backbone:
        return [n for n in names if n != "head"]
    if not cfg.freeze:
        return []
    if cfg.freeze not in names or cfg.freeze == "head":
        raise ConfigError(f"--freeze takes a stage before the head; this network's stages are {', '.join(names[:-1])}")
    return names[:names.index(cfg.freeze) + 1]


def _head_only(model: nn.Module, frozen: list[str], augments: list[str], cfg: TrainConfig, soft_labels, world: int) -> bool:
    """Whether every step can run the head alone on features computed once: all stages but the head frozen, no
    augmentation but a mirror, one process."""
    names = [n for n, _ in model.named_children()]
    return (names[-1:] == ["head"] and frozen == names[:-1] and set(augments) <= {"flip"} and not cfg.cutmix
            and not cfg.progressive and soft_labels is None and world == 1)


@torch.no_grad()
def _frozen_features(model: nn.Module, images: torch.Tensor, mean: list[float], std: list[float], mirror: bool,
                     batch_size: int = 64) -> torch.Tensor:
    """(2 if mirror else 1, N, F) float32: what the stages before the head make of each image (and of its mirror)."""
    device = next(model.parameters()).device
    stages = [m for n, m in model.named_children() if n != "head"]
    views = [images, images.flip(-1)] if mirror else [images]
    out = []
    for view in views:
        parts = []
        for start in range(0, len(view), batch_size):
            x = to_model_input(view[start:start + batch_size], mean, std).to(device)
            for stage in stages:
                x = stage(x)
            parts.append(x.float().flatten(1).cpu())
        out.append(torch.cat(parts))
    return torch.stack(out).to(device)


def _trains_batch_norm(model: nn.Module, frozen: list[str]) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm)
               for name, stage in model.named_children() if name not in frozen for m in stage.modules())


def is_better(val_acc: float, val_loss: float, best: dict) -> bool:
    """Whether an epoch beats the best so far ({"val_acc", "val_loss"}). A tie goes to the lower validation loss: on a
    few snapshots the accuracy reaches 100% within an epoch or two, and keeping the first such epoch would ship a head
    that has hardly learned."""
    return val_acc > best["val_acc"] or (val_acc == best["val_acc"] and val_loss < best.get("val_loss", math.inf))


def _next_epoch_past(epoch_seconds: float | None, elapsed: float, max_minutes: float) -> bool:
    """Whether another epoch as long as the last one (``epoch_seconds``, None before one has run) would end past the
    time limit."""
    return epoch_seconds is not None and elapsed + epoch_seconds > max_minutes * 60


def _set_train_mode(model: nn.Module, frozen: list[str]) -> None:
    """Train mode, but frozen stages keep their BatchNorm statistics (few images would ruin them)."""
    model.train()
    for name, stage in model.named_children():
        if name in frozen:
            stage.eval()


# ---------------------------------------------------------------------------------------------------------------
# Train


def _teacher_cache_path(output_dir: Path) -> Path:
    """The teacher's targets for a run, beside its resume file, so that --resume does not label every image again."""
    return output_dir.parent / f".{output_dir.name}.teacher.pt"


def _resume_path(output_dir: Path) -> Path:
    # Beside the checkpoint, not inside it: it holds optimizer state (too large to ship) and must survive
    # the atomic swap of the checkpoint folder.
    return output_dir.parent / f".{output_dir.name}.resume.pt"


def train(
    cfg: TrainConfig, on_progress: Callable[[dict], None] | None = None,
    should_stop: Callable[[], bool] | None = None, data: tuple[ImageSet, ImageSet] | None = None,
) -> TrainResult:
    """Train (or fine-tune) a model and write its checkpoint folder to ``cfg.output_dir``.

    on_progress: called with dicts {"event": "start"|"baseline"|"step"|"epoch"|"done", ...} (see the code below;
      "baseline", fine-tuning only: the starting network's validation figures, before the first step).
    should_stop: polled every step; when it returns True, training stops and ``Cancelled`` is raised;
      only complete checkpoints from earlier epochs remain.
    data: (train, val) ImageSets to use instead of loading ``cfg.data`` (the Train tab's captured images).
    Raises ConfigError / DataError / CheckpointError for bad input.
    """
    validate_config(cfg)
    report = on_progress or (lambda _: None)
    stop_requested = should_stop or (lambda: False)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    rank, world = _distributed()
    device = pick_device()
    torch.manual_seed(cfg.seed)
    start_time = time.time()
    output_dir = Path(cfg.output_dir)

    # -- data
    input_size = cfg.input_size
    if cfg.init_from and input_size is None:
        input_size = pretrained_input_size(cfg.init_from) if is_torchvision(cfg.init_from) \
            else read_config(cfg.init_from)["input_size"]
    merge = parse_merge(cfg.merge) if cfg.merge else None
    split_seed = cfg.seed if cfg.split_seed is None else cfg.split_seed
    train_set, val_set = data or load_train_val(cfg.data, cfg.val_fraction, split_seed, input_size, merge)
    if len(train_set.classes) < 2:
        raise ConfigError("a classifier needs at least two classes")
    if input_size and train_set.input_size != input_size:
        train_set = replace(train_set, images=resize_images(train_set.images, input_size))
        val_set = replace(val_set, images=resize_images(val_set.images, input_size))

    asked = cfg  # what the recipe records; cfg may now get a smaller batch for a small dataset
    cfg, batch_note = fit_batch_to_data(cfg, len(train_set))
    model, arch_kwargs, base = _build_model(cfg, train_set)
    soft_labels, teacher = (teacher_targets(cfg.teacher, train_set, cfg, split_seed, cache=_teacher_cache_path(output_dir))
                            if cfg.teacher else (None, None))
    mean, std = (base.mean, base.std) if base else channel_stats(train_set.images)
    whiten_biases = whitening_biases(model)
    if base is None and whiten_biases:
        fit_to_data(model, to_model_input(train_set.images[:WHITEN_FIT_IMAGES], mean, std))
    arch = base.config["arch"] if base else cfg.arch
    scale = train_set.input_size / 32  # augmentation sizes are given at 32x32
    augments = parse_augment(cfg.augment)
    model = model.to(device)
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    use_bf16 = bf16_helps(model, device) if cfg.bf16 is None else cfg.bf16
    train_model = nn.parallel.DistributedDataParallel(model) if world > 1 else model
    optimizer = make_optimizer(model, cfg)
    per_rank_batch = max(1, cfg.batch_size // world)
    steps_per_epoch = max(1, len(train_set) // cfg.batch_size)  # drop the ragged last batch
    total_steps = steps_per_epoch * cfg.epochs
    loss_fn = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
    lookahead = Lookahead(model) if cfg.lookahead else None
    base_lrs = [g["lr"] for g in optimizer.param_groups]

    history: list[dict] = []
    best = {"val_acc": -1.0, "epoch": 0}
    first_epoch, first_batch, step = 0, 0, 0
    partial = (0, 0, 0.0)  # seen, correct, loss sum of an epoch a time limit interrupted
    gen = torch.Generator().manual_seed(cfg.seed + 1000 * rank)
    recipe = json.loads(json.dumps({  # plain JSON, as config.json and the resume file keep it
        **{k: v for k, v in asdict(asked).items() if k not in ("resume", "threads", "log_every")},
        "arch": arch, "arch_kwargs": arch_kwargs}))  # the real ones, also with --init-from
    resume_file = _resume_path(output_dir)
    if cfg.resume and resume_file.exists():
        state = _load_resume(resume_file)
        _check_resumable(resume_file, state.get("recipe"), recipe)
        try:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
        except (RuntimeError, ValueError, KeyError) as err:
            raise ConfigError(f"the resume file {resume_file} does not fit this model ({str(err).splitlines()[0][:200]}): "
                              "delete it to start this run over, or run without --resume") from err
        if lookahead and "lookahead" in state:
            lookahead.avg = state["lookahead"]
        history, best, first_epoch, step = state["history"], state["best"], state["epoch"], state["step"]
        first_batch, partial = state.get("batch", 0), tuple(state.get("partial", partial))
        if world == 1 and "rng" in state:  # the same augmentations as an uninterrupted run
            gen.set_state(state["rng"]["augment"])
            torch.set_rng_state(state["rng"]["torch"])
        start_time -= state.get("seconds", 0.0)
    first_step = step

    config = build_config(arch, arch_kwargs, train_set.classes, train_set.input_size, mean, std, train_set.groups,
                          dataset={"name": train_set.name, "source": str(cfg.data), "fingerprint": train_set.fingerprint,
                                   "val_fraction": cfg.val_fraction, "seed": split_seed, "merge": cfg.merge,
                                   "train_images": len(train_set), "val_images": len(val_set)},
                          recipe=recipe)
    if teacher:
        config["teacher"] = teacher
    report({"event": "start", "epochs": cfg.epochs, "steps_per_epoch": steps_per_epoch, "train_images": len(train_set),
            "val_images": len(val_set), "classes": train_set.classes, "parameters": count_parameters(model),
            "device": str(device), "bf16": use_bf16, "world_size": world, "batch_size": cfg.batch_size,
            "lr": base_lrs[0], "note": batch_note})

    penalised = l1_weights(model)
    if base is not None and step == 0:  # fine-tuning from the start: where the starting network stands
        report({"event": "baseline", **_start_figures(model, val_set, mean, std, use_bf16, cfg.seed),
                "mean_abs_weight": mean_abs_weight(penalised)})

    base_flip = torch.rand(len(train_set), generator=torch.Generator().manual_seed(cfg.seed + 17)) < 0.5
    stopped = None
    frozen = frozen_stages(model, cfg)
    if cfg.micro_batch and cfg.micro_batch < cfg.batch_size and _trains_batch_norm(model, frozen):
        raise ConfigError("--micro-batch needs a network without batch norm in the layers it trains (batch norm's "
                          "statistics would come from the chunks, not the batch): leave it at 0 for this one")
    # Only the head learns and the augmentation is at most a mirror: the frozen layers' output for each image (and its
    # mirror) is computed once, and every step runs the head alone (teaching on a pretrained network takes seconds).
    features = (_frozen_features(model, train_set.images, mean, std, mirror="flip" in augments)
                if _head_only(model, frozen, augments, cfg, soft_labels, world) else None)
    forward = model.head if features is not None else train_model
    # and each epoch's validation runs the head alone on the validation images' features, also computed once
    val_features = _frozen_features(model, val_set.images, mean, std, mirror=False)[0] if features is not None else None
    # how long an epoch takes (training and validation; a resumed run starts from the last two rows' difference)
    epoch_seconds = history[-1]["seconds"] - history[-2]["seconds"] if len(history) > 1 else None
    for epoch in range(first_epoch, cfg.epochs):
        if cfg.max_minutes and _any_rank(_next_epoch_past(epoch_seconds, time.time() - start_time, cfg.max_minutes), world):
            stopped = "time limit"  # at an epoch's end, where --resume goes on, rather than inside one that cannot end
            break
        epoch_start = time.time()
        _set_train_mode(model, frozen)
        perm = torch.randperm(len(train_set), generator=torch.Generator().manual_seed(cfg.seed * 7919 + epoch))
        size = progressive_size(epoch, cfg.epochs, cfg.progressive, train_set.input_size)
        seen, correct, loss_sum = partial if epoch == first_epoch else (0, 0, 0.0)
        batches_done = first_batch if epoch == first_epoch else 0
        for i in range(batches_done, steps_per_epoch):
            if stop_requested():
                raise Cancelled("training was cancelled")
            idx = perm[i * cfg.batch_size:(i + 1) * cfg.batch_size][rank * per_rank_batch:(rank + 1) * per_rank_batch]
            x, y = train_set.images[idx], train_set.labels[idx]
            if features is not None:
                x = features[(torch.rand(len(idx), generator=gen) < 0.5).long() if len(features) > 1 else 0, idx]
            else:
                x = _augment(x, augments, cfg, scale, gen, base_flip[idx], epoch)
                x = to_model_input(x, mean, std)
            if "cutout" in augments:
                x = batch_cutout(x, max(1, round(cfg.cutout * scale)), gen)
            target = y
            if soft_labels is not None:
                target = (1 - cfg.distill) * nn.functional.one_hot(y, len(train_set.classes)).float() \
                    + cfg.distill * soft_labels[idx]
            if cfg.cutmix > 0:  # mixes the soft targets too
                x, target = batch_mixup(x, target, len(train_set.classes), cfg.cutmix, gen)
            if features is None and size != x.shape[-1]:
                x = nn.functional.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
            layout = torch.channels_last if cfg.channels_last and x.dim() == 4 else torch.contiguous_format
            x = x.to(device, non_blocking=True).contiguous(memory_format=layout)
            target, y = target.to(device), y.to(device)
            factor = lr_factor(step, total_steps, cfg, steps_per_epoch)
            for g, lr in zip(optimizer.param_groups, base_lrs, strict=True):
                g["lr"] = lr * factor
            optimizer.zero_grad(set_to_none=True)
            chunk = cfg.micro_batch or len(x)
            parts, loss = [], torch.zeros(())
            for s in range(0, len(x), chunk):  # the gradient of the batch's mean loss, summed over its chunks
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16):
                    part = forward(x[s:s + chunk])
                    part_loss = loss_fn(part.float(), target[s:s + chunk]) * (len(part) / len(x))
                if not torch.isfinite(part_loss):
                    raise ConfigError(f"the loss became {part_loss.item()} at epoch {epoch + 1}: the learning rate is too high")
                part_loss.backward()
                parts.append(part.detach())
                loss = loss + part_loss.detach().cpu()
            logits = torch.cat(parts)
            if cfg.l1:
                add_l1_gradient(penalised, cfg.l1)
            if epoch >= WHITEN_BIAS_EPOCHS:
                for bias in whiten_biases:  # no gradient, no step (also under DDP, unlike requires_grad)
                    bias.grad = None
            optimizer.step()
            step += 1
            if lookahead and step % 5 == 0:
                lookahead.update(model, decay=0.95**5 * (step / total_steps) ** 3)
            seen += len(y)
            correct += int((logits.argmax(1) == y).sum())
            loss_sum += float(loss.detach()) * len(y)
            if step % cfg.log_every == 0 or i == steps_per_epoch - 1:
                elapsed = time.time() - start_time
                report({"event": "step", "epoch": epoch + 1, "epochs": cfg.epochs, "step": i + 1,
                        "steps_per_epoch": steps_per_epoch, "loss": loss_sum / seen, "acc": correct / seen,
                        "lr": optimizer.param_groups[-1]["lr"], "elapsed": elapsed,
                        "remaining": elapsed / max(1, step - first_step) * (total_steps - step)})
            batches_done = i + 1
            if cfg.max_minutes and _any_rank(time.time() - start_time > cfg.max_minutes * 60, world):
                stopped = "time limit"
                break
        if stopped and batches_done < steps_per_epoch:
            # Inside an epoch: keep the exact position so that --resume finishes this epoch's remaining batches;
            # no validation row for half an epoch. The checkpoint on disk stays the best finished epoch's.
            if rank == 0:
                _save_resume(resume_file, model.state_dict(), optimizer, lookahead, gen, history, best, start_time,
                             epoch=epoch, step=step, batch=batches_done, partial=[seen, correct, loss_sum], recipe=recipe)
                if not output_dir.exists():  # stopped before the first epoch ended: still leave a usable model
                    _save(output_dir, model, config, history, best, start_time)
            break
        if lookahead and epoch == cfg.epochs - 1:  # not at a time limit: the run goes on from the weights as they are
            lookahead.update(model, decay=1.0)

        # -- validate (every rank computes the same figures; rank 0 writes)
        if val_features is not None:
            model.head.eval()
            with torch.no_grad():
                val_logits = model.head(val_features).float()
        else:
            val_logits = predict_logits(model, val_set.images, mean, std, autocast=use_bf16)
        val_loss = float(nn.functional.cross_entropy(val_logits, val_set.labels))
        val_acc = float((val_logits.argmax(1) == val_set.labels).float().mean())
        row = {"epoch": epoch + 1, "train_loss": loss_sum / max(1, seen), "train_acc": correct / max(1, seen),
               "val_loss": val_loss, "val_acc": val_acc, "lr": optimizer.param_groups[-1]["lr"], "train_size": size,
               "mean_abs_weight": mean_abs_weight(penalised), "seconds": round(time.time() - start_time, 1)}
        history.append(row)
        report({"event": "epoch", **row, "epochs": cfg.epochs})
        improved = is_better(val_acc, val_loss, best)
        if improved:
            best = {"val_acc": val_acc, "val_loss": val_loss, "epoch": epoch + 1}
        if rank == 0:
            if improved or not output_dir.exists():
                _save(output_dir, model, config, history, best, start_time)
            _save_resume(resume_file, model.state_dict(), optimizer, lookahead, gen, history, best, start_time,
                         epoch=epoch + 1, step=step, recipe=recipe)
        epoch_seconds = time.time() - epoch_start
        if not stopped and cfg.early_stop and epoch + 1 - best["epoch"] >= cfg.early_stop:
            stopped = "early stop"
        if stopped:
            break

    # -- final: best weights, calibrated, with full metrics and the model card
    ckpt = load_checkpoint(output_dir) if rank == 0 or world == 1 else None
    metrics = {}
    if ckpt is not None:
        best_model = ckpt.model.to(device)
        logits = predict_logits(best_model, val_set.images, mean, std, tta=cfg.tta, autocast=use_bf16)
        metrics = {
            **validation_figures(logits, val_set.labels, train_set.classes, train_set.groups),
            "tta": cfg.tta, "best_epoch": best["epoch"], "epochs_run": len(history),
            "train_seconds": round(time.time() - start_time, 1), "stopped_early": stopped,
            "parameters": count_parameters(best_model), "history": history,
        }
        if cfg.calibrate:
            config["temperature"] = metrics["val_calibrated"]["temperature"]
        plot = plot_history(history, output_dir.parent / f".{output_dir.name}.curves.png")
        save_checkpoint(output_dir, best_model.cpu(), config, metrics, model_card(output_dir.name, config, metrics, asdict(TrainConfig())),
                        extra_files={"curves.png": plot})
        plot.unlink(missing_ok=True)
        if stopped != "time limit":  # only a time limit leaves something to --resume
            resume_file.unlink(missing_ok=True)
            _teacher_cache_path(output_dir).unlink(missing_ok=True)
    report({"event": "done", "output_dir": str(output_dir), "metrics": {k: metrics.get(k) for k in ("val", "train_seconds")},
            "stopped_early": stopped})
    if world > 1:
        dist.barrier()
    return TrainResult(output_dir, metrics, stopped)


def _start_figures(model: nn.Module, val_set: ImageSet, mean: list[float], std: list[float], autocast: bool,
                   seed: int) -> dict:
    """{"val_loss", "val_acc", "val_images"} of ``model`` before training, on a fixed random subset of the validation
    images of at most START_VAL_PIXELS pixels (all of them when they fit)."""
    size = val_set.images.shape[-1] * val_set.images.shape[-2]
    count = min(len(val_set), max(1, START_VAL_PIXELS // size))
    pick = torch.randperm(len(val_set), generator=torch.Generator().manual_seed(seed + 29))[:count]
    logits = predict_logits(model, val_set.images[pick], mean, std, autocast=autocast)
    labels = val_set.labels[pick]
    return {"val_loss": float(nn.functional.cross_entropy(logits, labels)),
            "val_acc": float((logits.argmax(1) == labels).float().mean()), "val_images": count}


def teacher_targets(teacher: str, train_set: ImageSet, cfg: TrainConfig, split_seed: int,
                    cache: Path | None = None) -> tuple[torch.Tensor, dict]:
    """The teacher's probabilities (N, classes) for every training image, mirror-averaged and at the temperature
    calibrated on its validation split (the soft part of each target when distilling), and what config.json keeps
    about the teacher (how to rebuild it: its recipe, or its members').

    Raises ConfigError unless the teacher has the same classes and input size and was validated on the same split
    (else it would have trained on the student's validation images, and the student's figures would flatter it).
    With ``cache``, the targets are kept there and reused while the teacher's weights and temperature and the
    training split are the same (labelling 22,500 images with five networks takes minutes on a CPU)."""
    ckpt = load_checkpoint(teacher)
    if ckpt.classes != train_set.classes or ckpt.input_size != train_set.input_size:
        raise ConfigError(f"the teacher {teacher} has other classes or another input size than the training data")
    mine = {"fingerprint": train_set.fingerprint, "val_fraction": cfg.val_fraction, "seed": split_seed, "merge": cfg.merge}
    theirs = ckpt.config.get("dataset", {})
    for key in SPLIT_KEYS:
        if theirs.get(key) != mine[key]:
            raise ConfigError(f"the teacher {teacher} was validated on another split (dataset {key}: {theirs.get(key)!r} "
                              f"vs {mine[key]!r}): it has seen this run's validation images")
    record = {**member_entry(ckpt), "path": teacher, "members": ckpt.config.get("members") or []}
    temperature = float(ckpt.config.get("temperature") or 1.0)
    # the split checked above fixes the training images, in order
    key = {"weights": weights_sha256(teacher), "temperature": temperature, "split": mine, "size": train_set.input_size}
    if cache is not None and cache.exists():
        try:
            saved = torch.load(cache, map_location="cpu", weights_only=True)
            if saved.get("key") == key and saved["targets"].shape == (len(train_set), len(train_set.classes)):
                return saved["targets"], record
        except (OSError, RuntimeError, KeyError, AttributeError, pickle.UnpicklingError):
            pass  # a damaged cache is computed again
    device = pick_device()
    logits = predict_logits(ckpt.model.to(device), train_set.images, ckpt.mean, ckpt.std, tta=1,
                            autocast=bf16_helps(ckpt.model, device))
    targets = torch.softmax(logits / temperature, dim=1)
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        part = cache.with_name(f"{cache.name}.{os.getpid()}.part")  # whole or absent, also with several processes
        torch.save({"key": key, "targets": targets}, part)
        os.replace(part, cache)
    return targets, record


def progressive_size(epoch: int, epochs: int, start: int, full: int) -> int:
    """The training side for ``epoch`` (0-based) under progressive resizing (FFCV's recipe): ``start`` pixels at
    first, growing linearly in steps of 8 to ``full`` at PROGRESSIVE_END of the epochs, then ``full``. Low-resolution
    epochs cost about (side / full)^2 as much; the last ones see what the model sees at test time."""
    if not start or start >= full:
        return full
    ramp = max(1, round(PROGRESSIVE_END * epochs))
    if epoch >= ramp:
        return full
    return max(start, (start + (full - start) * epoch // ramp) // 8 * 8)  # below full: epoch < ramp


def _augment(x: torch.Tensor, augments: list[str], cfg: TrainConfig, scale: float, gen: torch.Generator,
             flipped: torch.Tensor, epoch: int) -> torch.Tensor:
    """flipped: (N,) bool, each image's fixed mirror for altflip."""
    if "scale" in augments:
        x = batch_scale_crop(x, cfg.scale_min, gen)
    if "altflip" in augments:
        x = batch_flip_alternating(x, flipped, epoch)
    elif "flip" in augments:
        x = batch_flip_lr(x, gen)
    if "translate" in augments and cfg.translate > 0:
        x = batch_translate(x, max(1, round(cfg.translate * scale)), gen)
    return x


def _save_resume(path: Path, weights: dict, optimizer: torch.optim.Optimizer, lookahead: Lookahead | None,
                 gen: torch.Generator, history: list[dict], best: dict, start_time: float, *, epoch: int, step: int,
                 batch: int = 0, partial: list | None = None, recipe: dict | None = None) -> None:
    """What --resume continues from: epoch (0-based) and batch are the next ones to train; partial holds the seen,
    correct and loss-sum figures of that epoch so far; the random-number states make the rest of the run identical;
    recipe is the run's settings, which a resumed run must share (_check_resumable)."""
    torch.save({"model": weights, "recipe": recipe or {},
                "optimizer": optimizer.state_dict(), "history": history, "best": best,
                "epoch": epoch, "batch": batch, "step": step, "partial": partial or [0, 0, 0.0],
                "seconds": time.time() - start_time, "rng": {"augment": gen.get_state(), "torch": torch.get_rng_state()},
                **({"lookahead": lookahead.avg} if lookahead else {})}, path)


RESUME_MAY_CHANGE = ("max_minutes", "data", "output_dir")  # a longer time limit, the data or run folder moved


RESUME_KEYS = ("model", "optimizer", "history", "best", "epoch", "step")


def _load_resume(path: Path) -> dict:
    """The resume file's contents. Raises ConfigError when it is damaged (a run killed while saving leaves a
    truncated file), saying how to start over."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, OSError, ValueError, pickle.UnpicklingError) as err:
        raise ConfigError(f"the resume file {path} is damaged or truncated (a run stopped while saving it leaves "
                          "this): delete it to start this run over, or run without --resume") from err
    missing = [k for k in RESUME_KEYS if not isinstance(state, dict) or k not in state]
    if missing:
        raise ConfigError(f"the resume file {path} lacks {', '.join(missing)}: delete it to start this run over, "
                          "or run without --resume")
    return state


def _check_resumable(path: Path, saved: dict | None, recipe: dict) -> None:
    """Raise ConfigError unless the run that left the resume file had these settings (both plain JSON): continuing, say, a 34-epoch
    run's weights and optimizer under a 20-epoch schedule would make a model no command reproduces."""
    if not saved:  # written before resume files kept their run's settings
        return
    defaults = asdict(TrainConfig())  # a setting added since then, at its default, changes nothing
    changed = [k for k in sorted(set(saved) | set(recipe))
               if k not in RESUME_MAY_CHANGE and saved.get(k, defaults.get(k)) != recipe.get(k)]
    if changed:
        shown = "; ".join(f"{k} {saved.get(k)!r} then, {recipe.get(k)!r} now" for k in changed[:4])
        raise ConfigError(f"{path} was left by a run with other settings ({shown}): resume it with its own settings, "
                          "or delete that file to start again")


def _save(output_dir: Path, model: nn.Module, config: dict, history: list[dict], best: dict, start_time: float) -> None:
    metrics = {"history": history, "best_epoch": best["epoch"], "val": {"top1": best["val_acc"]},
               "train_seconds": round(time.time() - start_time, 1), "complete": False}
    save_checkpoint(output_dir, model, config, metrics)


# ---------------------------------------------------------------------------------------------------------------
# Command line


def build_parser() -> argparse.ArgumentParser:
    d = TrainConfig()
    p = argparse.ArgumentParser(prog="python -m core.train", description="Train or fine-tune a CNN and write a checkpoint folder.")
    p.add_argument("--data", default=d.data, help="dataset: a folder, a .zip/.tar.gz archive, cifar10 or cifar100")
    p.add_argument("--output-dir", default=d.output_dir, help="checkpoint folder to write")
    p.add_argument("--arch", default=d.arch, help="architecture: resnet or simplecnn")
    p.add_argument("--arch-kwargs", default="{}", help='architecture options as JSON, e.g. \'{"widths": [64, 256, 256]}\'')
    p.add_argument("--epochs", type=int, default=d.epochs)
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--micro-batch", type=int, default=d.micro_batch, metavar="N",
                   help="forward and backward each batch in chunks of N images (same result, faster on a CPU; "
                        "networks without batch norm only)")
    p.add_argument("--optimizer", default=d.optimizer, choices=list(OPTIMIZER_LR))
    p.add_argument("--lr", type=float, default=d.lr, help="peak learning rate (default depends on the optimizer)")
    p.add_argument("--momentum", type=float, default=d.momentum)
    p.add_argument("--wd", type=float, default=d.wd, help="weight decay")
    p.add_argument("--l1", type=float, default=d.l1, help="L1 regularisation: adds l1 * sum(|w|) of the trained weights "
                   "(not biases) to the loss")
    p.add_argument("--schedule", default=d.schedule, choices=list(SCHEDULES))
    p.add_argument("--warmup", type=float, default=d.warmup)
    p.add_argument("--label-smoothing", type=float, default=d.label_smoothing)
    p.add_argument("--dropout", type=float, default=d.dropout)
    p.add_argument("--augment", default=d.augment, help="comma list of flip, altflip, translate, cutout, scale (or none)")
    p.add_argument("--translate", type=int, default=d.translate)
    p.add_argument("--cutout", type=int, default=d.cutout)
    p.add_argument("--cutmix", type=float, default=d.cutmix)
    p.add_argument("--scale-min", type=float, default=d.scale_min, help="smallest crop area share for --augment scale")
    p.add_argument("--progressive", type=int, default=d.progressive, metavar="START_SIZE",
                   help="progressive resizing: start training at this side (pixels), grow to the input size")
    p.add_argument("--lookahead", action="store_true")
    p.add_argument("--norm-bias-lr-scale", type=float, default=d.norm_bias_lr_scale)
    p.add_argument("--tta", type=int, default=d.tta)
    p.add_argument("--val-fraction", type=float, default=d.val_fraction)
    p.add_argument("--seed", type=int, default=d.seed, help="initialisation, data order, augmentation (and the split)")
    p.add_argument("--split-seed", type=int, default=d.split_seed,
                   help="seed of the validation split if not --seed: models for one ensemble share their split")
    p.add_argument("--input-size", type=int, default=d.input_size)
    p.add_argument("--merge", default=d.merge, help='merge classes: "new=a,b;other=c,d"')
    p.add_argument("--resume", action="store_true", help="continue a killed run from its last finished epoch"
                   " (or from the batch where --max-minutes stopped it)")
    p.add_argument("--init-from", default=d.init_from,
                   help="fine-tune this: a checkpoint folder, or torchvision:NAME[:WEIGHTS] (e.g. torchvision:resnet18)")
    p.add_argument("--freeze-backbone", action="store_true", help="with --init-from: train only the head")
    p.add_argument("--freeze", default=d.freeze, metavar="STAGE",
                   help="with --init-from: keep the stages up to and including STAGE (e.g. stage3) fixed")
    p.add_argument("--backbone-lr-scale", type=float, default=d.backbone_lr_scale,
                   help="with --init-from: the pretrained layers' learning rate as a share of the head's (e.g. 0.1)")
    p.add_argument("--teacher", default=d.teacher, help="distil from this checkpoint or ensemble (same validation split)")
    p.add_argument("--distill", type=float, default=d.distill, help="the teacher's share of each training target (0..1)")
    p.add_argument("--max-minutes", type=float, default=d.max_minutes,
                   help="stop after this many minutes of wall clock in all (loading the data, a teacher's labelling and "
                        "earlier parts of a resumed run included), and start no epoch that would end past them; "
                        "--resume continues from there")
    p.add_argument("--early-stop", type=int, default=d.early_stop, metavar="PATIENCE")
    p.add_argument("--threads", type=int, default=d.threads)
    p.add_argument("--no-bf16", dest="bf16", action="store_false", default=None)
    return p


def config_from_args(argv: list[str] | None = None) -> TrainConfig:
    args = vars(build_parser().parse_args(argv))
    if len(args["arch_kwargs"]) > MAX_ARCH_KWARGS_CHARS:
        raise ConfigError(f"--arch-kwargs is longer than {MAX_ARCH_KWARGS_CHARS} characters; give a few widths and flags")
    try:
        args["arch_kwargs"] = json.loads(args["arch_kwargs"])
    except (json.JSONDecodeError, RecursionError) as err:
        raise ConfigError(f"--arch-kwargs is not valid JSON: {err}") from err
    return TrainConfig(**args)


def main(argv: list[str] | None = None) -> int:
    from tqdm import tqdm

    try:
        cfg = config_from_args(argv)
        bar = None

        def show(event: dict) -> None:
            nonlocal bar
            if int(os.environ.get("RANK", 0)) != 0:
                return
            if event["event"] == "start":
                print(f"training {event['parameters']:,} parameters on {event['train_images']:,} images "
                      f"({len(event['classes'])} classes), validating on {event['val_images']:,}; device {event['device']}, "
                      f"bf16 {event['bf16']}, processes {event['world_size']}", flush=True)
                if event.get("note"):
                    print(f"note: {event['note']}", flush=True)
            elif event["event"] == "step":
                if bar is None:
                    bar = tqdm(total=event["steps_per_epoch"], desc=f"epoch {event['epoch']}/{event['epochs']}", leave=False,
                               mininterval=5, file=sys.stdout)
                bar.n = event["step"]
                bar.set_postfix(loss=f"{event['loss']:.3f}", acc=f"{event['acc']:.3f}")
            elif event["event"] == "baseline":
                print(f"before training: val loss {event['val_loss']:.4f} acc {event['val_acc']:.4f} "
                      f"({event['val_images']:,} validation images)", flush=True)
            elif event["event"] == "epoch":
                if bar:
                    bar.close()
                    bar = None
                print(f"epoch {event['epoch']}/{event['epochs']}: train loss {event['train_loss']:.4f} acc {event['train_acc']:.4f} | "
                      f"val loss {event['val_loss']:.4f} acc {event['val_acc']:.4f} | {event['seconds']:.0f}s", flush=True)
            elif event["event"] == "done":
                print(json.dumps({"output_dir": event["output_dir"], **(event["metrics"] or {}),
                                  "stopped_early": event["stopped_early"]}), flush=True)

        train(cfg, on_progress=show)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
