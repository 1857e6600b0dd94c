"""The training recipe: ``TrainConfig`` (every hyper-parameter with its default), its validation, and the facts
that define a validation split. The training loop, the evaluation, the model cards, the background jobs and the UI
all import it from here, without importing the training loop.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

from core.augment import parse_augment
from core.errors import ConfigError

OPTIMIZER_LR = {"sgd": 0.2, "adam": 2e-3, "adamw": 2e-3}  # defaults per optimizer at batch 256 (mean loss)
REFERENCE_BATCH = 256  # the batch size OPTIMIZER_LR is tuned for; see default_lr for other sizes
# Small data: an epoch of fewer steps than this learns next to nothing in a few epochs (240 images at batch 256 is one
# step), so with the default learning rate the batch shrinks to give about this many (see core.train.fit_batch_to_data).
MIN_STEPS_PER_EPOCH = 10
MIN_BATCH = 8  # ... but never below this (BatchNorm statistics of fewer images are noise)
SCHEDULES = ("onecycle", "cosine", "constant", "cyclic")
# What makes two runs' validation splits the same: the data, the held-out share, the split's seed and the merges.
# Ensemble members and a distillation teacher must agree on all of them.
SPLIT_KEYS = ("fingerprint", "val_fraction", "seed", "merge")


@dataclass
class TrainConfig:
    data: str = "cifar10-train-jpg"  # a dataset name, folder or archive (see core.data.load_images)
    output_dir: str = "runs/model"
    arch: str = "resnet"
    arch_kwargs: dict = field(default_factory=dict)  # architecture options, e.g. {"widths": [64, 256, 256]}
    epochs: int = 16
    batch_size: int = 256
    micro_batch: int = 0  # run each batch's forward and backward in chunks of this many images (the same step, faster
    # on CPU caches; networks without batch norm only, such as the pretrained MobileNetV2); 0: the whole batch at once
    optimizer: str = "sgd"  # sgd (Nesterov momentum), adam, adamw
    lr: float | None = None  # None: default_lr(optimizer, batch_size), OPTIMIZER_LR at batch 256
    momentum: float = 0.9  # SGD momentum (also beta1 for Adam/AdamW)
    wd: float = 5e-4  # weight decay (decoupled for AdamW)
    l1: float = 0.0  # L1 regularisation: l1 * sum(|w|) over the trained weights (not biases or norm scales) joins the
    # loss, pushing small weights to exactly 0 where weight decay only shrinks them; 0: off
    schedule: str = "onecycle"  # onecycle: linear warm-up then linear decay; cosine; constant; cyclic (triangular)
    warmup: float = 0.2  # share of training spent warming up (onecycle, cosine)
    label_smoothing: float = 0.0
    dropout: float | None = None  # None keeps the architecture's default
    augment: str = "flip,translate"  # any of flip (random), altflip (each image mirrored every other epoch), translate, cutout, scale
    translate: int = 2  # pixels, at 32x32 (scaled with the input size)
    cutout: int = 8  # side of the cutout square, at 32x32 (scaled with the input size)
    cutmix: float = 0.0  # CutMix Beta alpha; 0 turns it off. Helps on few images per class
    scale_min: float = 0.35  # the "scale" augmentation's smallest crop, as a share of the image area
    progressive: int = 0  # progressive resizing: train at this side first, growing to the input size; 0 off
    lookahead: bool = False  # airbench's lookahead EMA: average weights every 5 steps, pull the model to it
    norm_bias_lr_scale: float = 1.0  # SGD only: learning-rate multiplier for BatchNorm biases (airbench uses 64)
    tta: int = 1  # test-time augmentation for the final validation: 0 none, 1 mirror, 2 mirror + shifts
    calibrate: bool = True  # fit a temperature on the validation split (not on a handful of snapshots)
    val_fraction: float = 0.1
    seed: int = 0  # initialisation, data order and augmentation
    split_seed: int | None = None  # the validation split's seed; None: the same as seed
    input_size: int | None = None  # None: the data's own size (or the --init-from checkpoint's)
    merge: str = ""  # merge classes: "vehicle=automobile,truck;pets=cat,dog"
    resume: bool = False
    init_from: str | None = None  # fine-tune this checkpoint folder or torchvision:NAME (a new head if the classes differ)
    freeze_backbone: bool = False  # with init_from: train only the head
    freeze: str | None = None  # with init_from: keep the stages up to and including this one (e.g. "stage3") fixed
    backbone_lr_scale: float = 1.0  # with init_from: the pretrained layers' learning rate as a share of the head's
    teacher: str | None = None  # distil: a checkpoint (or ensemble) trained on the same split teaches its probabilities
    distill: float = 0.5  # with teacher: the teacher's share of each training target (the label has the rest)
    max_minutes: float | None = None  # stop cleanly (with a valid checkpoint) after this long
    early_stop: int | None = None  # stop when validation accuracy has not improved for this many epochs
    threads: int | None = None  # torch CPU threads (the app leaves one core to the live camera)
    bf16: bool | None = None  # None: autocast to bfloat16 where the hardware supports it
    channels_last: bool = True
    log_every: int = 20  # steps between progress reports


# Fields by kind, for the type checks that come before the range checks (NaN and Infinity pass many comparisons,
# and a string from a raw API call would fail inside training with a traceback).
NUMBER_FIELDS = ("lr", "momentum", "wd", "l1", "warmup", "label_smoothing", "dropout", "cutmix", "scale_min",
                 "norm_bias_lr_scale", "val_fraction", "backbone_lr_scale", "distill", "max_minutes")
WHOLE_FIELDS = ("epochs", "batch_size", "micro_batch", "translate", "cutout", "progressive", "tta", "seed", "split_seed",
                "input_size", "early_stop", "threads", "log_every")
FIELD_NAMES = {"lr": "learning rate", "wd": "weight decay", "l1": "L1 regularisation"}
MAX_ARCH_KWARGS_CHARS = 2000  # architecture options are a few widths and flags, never more than this as JSON
MAX_SEED = 2**31 - 1


def _type_problem(cfg: TrainConfig) -> str | None:
    for name in NUMBER_FIELDS:
        v = getattr(cfg, name)
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v)):
            return f"{FIELD_NAMES.get(name, name.replace('_', ' '))} must be a finite number, got {v!r}"
    for name in WHOLE_FIELDS:
        v = getattr(cfg, name)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int)):
            return f"{name.replace('_', ' ')} must be a whole number, got {v!r}"
    if not isinstance(cfg.arch_kwargs, dict):
        return f"architecture options must be a JSON object like {{\"widths\": [64, 128]}}, got {cfg.arch_kwargs!r}"
    try:
        if len(json.dumps(cfg.arch_kwargs)) > MAX_ARCH_KWARGS_CHARS:
            return f"architecture options are longer than {MAX_ARCH_KWARGS_CHARS} characters; give a few widths and flags"
    except (TypeError, ValueError, RecursionError):
        return "architecture options must be plain JSON (numbers, strings, lists)"
    return None


def default_lr(optimizer: str, batch_size: int) -> float:
    """The learning rate when none is given: OPTIMIZER_LR (tuned at REFERENCE_BATCH) scaled linearly with the batch
    size for SGD (Goyal et al. 2017: a quarter of the batch, a quarter of the rate) and by its square root for Adam and
    AdamW (their steps are already normalised per weight). Without this, batch 32 at SGD's 0.2 diverges."""
    ratio = batch_size / REFERENCE_BATCH
    return OPTIMIZER_LR[optimizer] * (ratio if optimizer == "sgd" else math.sqrt(ratio))


def validate_config(cfg: TrainConfig) -> None:
    """Raise ConfigError with a clear message for absurd values, before any data is loaded: wrong types, NaN or
    Infinity, and values out of range."""
    from core.data import INPUT_SIZES

    problem = _type_problem(cfg)
    if problem:
        raise ConfigError(problem)
    checks = [
        (cfg.epochs >= 1, f"epochs must be at least 1, got {cfg.epochs}"),
        (cfg.epochs <= 1000, f"epochs must be at most 1000, got {cfg.epochs}"),
        (1 <= cfg.batch_size <= 8192, f"batch size must be between 1 and 8192, got {cfg.batch_size}"),
        (0 <= cfg.micro_batch <= 8192, f"micro-batch must be 0 (off) or a number of images up to 8192, got {cfg.micro_batch}"),
        (cfg.lr is None or (math.isfinite(cfg.lr) and 0 < cfg.lr <= 10), f"learning rate must be in (0, 10], got {cfg.lr}"),
        (cfg.optimizer in OPTIMIZER_LR, f"optimizer must be one of {', '.join(OPTIMIZER_LR)}, got {cfg.optimizer!r}"),
        (cfg.schedule in SCHEDULES, f"schedule must be one of {', '.join(SCHEDULES)}, got {cfg.schedule!r}"),
        (0 <= cfg.momentum < 1, f"momentum must be in [0, 1), got {cfg.momentum}"),
        (0 <= cfg.wd <= 1, f"weight decay must be in [0, 1], got {cfg.wd}"),
        (0 <= cfg.l1 <= 1, f"L1 regularisation must be in [0, 1], got {cfg.l1}"),
        (0 <= cfg.warmup < 1, f"warm-up share must be in [0, 1), got {cfg.warmup}"),
        (0 <= cfg.label_smoothing < 1, f"label smoothing must be in [0, 1), got {cfg.label_smoothing}"),
        (cfg.dropout is None or 0 <= cfg.dropout < 1, f"dropout must be in [0, 1), got {cfg.dropout}"),
        (0 <= cfg.translate <= 16, f"translate must be 0..16 pixels, got {cfg.translate}"),
        (0 <= cfg.cutout <= 32, f"cutout must be 0..32 pixels, got {cfg.cutout}"),
        (0 <= cfg.cutmix <= 10, f"cutmix alpha must be in [0, 10], got {cfg.cutmix}"),
        (0.05 <= cfg.scale_min <= 1, f"scale-min must be between 0.05 and 1 (a share of the image area), got {cfg.scale_min}"),
        (cfg.progressive == 0 or 8 <= cfg.progressive <= 1024, f"progressive start size must be 0 (off) or 8..1024, got {cfg.progressive}"),
        (0 < cfg.val_fraction < 1, f"validation fraction must be between 0 and 1, got {cfg.val_fraction}"),
        (cfg.max_minutes is None or 0 < cfg.max_minutes <= 60 * 24 * 365,
         f"max minutes must be positive (and under a year), got {cfg.max_minutes}"),
        (cfg.early_stop is None or cfg.early_stop >= 1, f"early-stop patience must be at least 1, got {cfg.early_stop}"),
        (cfg.tta in (0, 1, 2), f"tta must be 0, 1 or 2, got {cfg.tta}"),
        (not cfg.freeze_backbone or cfg.init_from, "freezing the backbone needs --init-from a trained checkpoint"),
        (not cfg.freeze or cfg.init_from, "freezing stages needs --init-from a trained checkpoint"),
        (math.isfinite(cfg.backbone_lr_scale) and 0 < cfg.backbone_lr_scale <= 1,
         f"backbone-lr-scale must be in (0, 1] (a share of the head's learning rate), got {cfg.backbone_lr_scale}"),
        (0 <= cfg.distill <= 1, f"distill must be in [0, 1] (the teacher's share of the target), got {cfg.distill}"),
        (cfg.threads is None or cfg.threads >= 1, f"threads must be at least 1, got {cfg.threads}"),
        (cfg.input_size is None or INPUT_SIZES[0] <= cfg.input_size <= INPUT_SIZES[1],
         f"input size must be between {INPUT_SIZES[0]} and {INPUT_SIZES[1]} pixels, got {cfg.input_size}"),
        (0 < cfg.norm_bias_lr_scale <= 1000, f"norm-bias-lr-scale must be in (0, 1000], got {cfg.norm_bias_lr_scale}"),
        (0 <= cfg.seed <= MAX_SEED, f"seed must be between 0 and {MAX_SEED}, got {cfg.seed}"),
        (cfg.split_seed is None or 0 <= cfg.split_seed <= MAX_SEED,
         f"split seed must be between 0 and {MAX_SEED}, got {cfg.split_seed}"),
        (cfg.log_every >= 1, f"log-every must be at least 1, got {cfg.log_every}"),
    ]
    for ok, message in checks:
        if not ok:
            raise ConfigError(message)
    try:
        parse_augment(cfg.augment)
    except ValueError as err:
        raise ConfigError(str(err)) from err
