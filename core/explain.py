"""Why the network said what it said: the Grad-CAM family, feature maps, first-layer filters, and the
validation images that excite each channel most (Yosinski's Deep Visualization Toolbox view).

Concurrency: pytorch-grad-cam puts forward hooks on the target layer and keeps activations on the CAM
object. The app serves every request from one loaded model, so hooks on that model would also catch other
threads' forward passes. CAMs therefore run on a private copy of each model (``_replica``), one request at
a time per model, with a new CAM object per call inside a ``with`` block that removes the hooks again.
Feature maps need no hooks: the stages of a StagedNet are run one after another.
"""

from __future__ import annotations

import copy
import json
import os
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from pytorch_grad_cam import EigenCAM, GradCAM, GradCAMPlusPlus, LayerCAM, ScoreCAM, XGradCAM
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

from core.checkpoint import Checkpoint, load_checkpoint, weights_sha256
from core.data import ImageSet, align_classes, cache_dir, file_sha256, load_images
from core.errors import CheckpointError, ConfigError, DataError, UserError
from core.evaluate import SAMPLE_NAME
from core.models import members
from core.predict import logits_to_probabilities, preprocess, to_model_input

# ---------------------------------------------------------------------------------------------------------------
# Setup

class _Discard(list):
    def append(self, item) -> None:
        pass


class LeanScoreCAM(ScoreCAM):
    """Score-CAM in bounded memory, with progress, on the channels that carry the picture.

    pytorch-grad-cam's ScoreCAM masks the input with every channel's upsampled map at once (for MobileNetV2's 1280
    channels at 192 px: 1280 x 3 x 192 x 192 floats, 566 MB) and its hooks keep the activations of every masked pass.
    Here the masks are made SCORECAM_BATCH at a time and the hooks discard what they see. Like Faster Score-CAM (the
    Score-CAM authors' own variant), only the SCORECAM_CHANNELS channels whose maps vary most over the image are
    scored: a flat map masks nothing in particular, and the others get weight 0. ``on_progress(done, total)`` is
    called after each batch of masked copies."""

    on_progress: Callable[[int, int], None] | None = None

    @torch.no_grad()
    def get_cam_weights(self, input_tensor, target_layer, targets, activations, grads):
        acts = torch.from_numpy(activations).float()  # (N, C, h, w)
        n, channels = acts.shape[:2]
        keep = acts.flatten(2).var(dim=2).topk(min(SCORECAM_CHANNELS, channels), dim=1).indices  # (N, K)
        scores = torch.full((n, channels), -torch.inf)
        total, done = keep.numel(), 0
        hooks = self.activations_and_grads
        kept, hooks.activations = hooks.activations, _Discard()
        try:
            for i in range(n):
                for start in range(0, keep.shape[1], SCORECAM_BATCH):
                    chosen = keep[i, start:start + SCORECAM_BATCH]
                    masks = torch.nn.functional.interpolate(acts[i, chosen][None], size=input_tensor.shape[-2:],
                                                            mode="bilinear", align_corners=True)[0]
                    low = masks.flatten(1).amin(1)[:, None, None]
                    high = masks.flatten(1).amax(1)[:, None, None]
                    masks = (masks - low) / (high - low + 1e-8)
                    outputs = self.model(input_tensor[i:i + 1] * masks[:, None])
                    scores[i, chosen] = torch.stack([targets[i](o) for o in outputs]).float().cpu()
                    done += len(chosen)
                    if self.on_progress:
                        self.on_progress(done, total)
        finally:
            hooks.activations = kept
        return torch.softmax(scores, dim=1).numpy()


CAM_METHODS: dict[str, type] = {
    "gradcam": GradCAM,
    "gradcam++": GradCAMPlusPlus,
    "layercam": LayerCAM,
    "eigencam": EigenCAM,
    "xgradcam": XGradCAM,
    "scorecam": LeanScoreCAM,  # one forward pass per channel: seconds, not milliseconds
}
CAM_LABELS = {"gradcam": "Grad-CAM", "gradcam++": "Grad-CAM++", "layercam": "LayerCAM", "eigencam": "EigenCAM",
              "xgradcam": "XGradCAM", "scorecam": "Score-CAM (slow)"}
SLOW_METHODS = {"scorecam"}
SCORECAM_BATCH = 16  # masked copies of the image per forward pass: fewer at once, a lower peak (64: 212 MB a request)
SCORECAM_CHANNELS = 256  # channels scored, the most varied first: MobileNetV2 has 1280, each one a forward pass
TOP_IMAGES = 9  # a 3x3 grid per channel, as in the Deep Visualization Toolbox
CHANNEL_INDEX_FILE = "channel_top_images.json"
CHANNEL_INDEX_VERSION = 1
# With temperature-scaled probabilities a top probability p means "right about p of the time", so below
# this the guess is more likely wrong than right: the live tab says "not sure".
UNSURE_PROBABILITY = 0.5
FEW_CLASSES = 5  # a taught model: with two classes the top probability is never below 0.5


# ---------------------------------------------------------------------------------------------------------------
# Private model copies for CAMs (see the module docstring)

_replicas: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_replicas_lock = threading.Lock()


def _replica(model: torch.nn.Module) -> tuple[torch.nn.Module, threading.Lock]:
    """A frozen eval-mode deep copy of ``model`` and the lock that serialises its use. Dropped with the model,
    so a reloaded checkpoint gets a fresh copy."""
    with _replicas_lock:
        entry = _replicas.get(model)
        if entry is None:
            twin = copy.deepcopy(model).eval()
            # Gradients are only needed w.r.t. activations; frozen weights make backward cheaper and
            # keep no .grad buffers alive between requests.
            twin.requires_grad_(False)
            entry = (twin, threading.Lock())
            _replicas[model] = entry
        return entry


def _layers(model: torch.nn.Module, layer: str | None) -> list[torch.nn.Module]:
    """The stage ``layer`` (default: the last conv stage) of each network in ``model``: one for a single network,
    one per member for an ensemble, whose CAM is then the mean of its members' CAMs."""
    names = model.conv_stage_names()
    name = layer or names[-1]
    try:
        return [net.get_submodule(name) for net in members(model)]
    except AttributeError as err:
        raise ConfigError(f"the model has no layer {name!r}; choose one of {', '.join(names)}") from err


def _check_method(method: str) -> type:
    if method not in CAM_METHODS:
        raise ConfigError(f"unknown CAM method {method!r}; choose from {', '.join(CAM_METHODS)}")
    return CAM_METHODS[method]


# ---------------------------------------------------------------------------------------------------------------
# Grad-CAM family


def cam_and_logits(
    ckpt: Checkpoint, tensor: torch.Tensor, target_classes: list[int | None] | None = None,
    method: str = "gradcam", layer: str | None = None, on_progress: Callable[[int, int], None] | None = None,
) -> tuple[np.ndarray, torch.Tensor]:
    """Class activation maps and the logits from the same forward pass.

    tensor: (N, 3, H, W) float32, normalised as in the checkpoint's config. target_classes: per image the
    class to explain, None = the top prediction. Returns cams (N, H, W) float32 in [0, 1] and logits (N, C).
    Raises ConfigError for an unknown method, layer or class.
    """
    cam_class = _check_method(method)
    n = tensor.shape[0]
    targets = list(target_classes) if target_classes is not None else [None] * n
    if len(targets) != n:
        raise ConfigError(f"got {len(targets)} target classes for {n} images")
    for t in targets:
        if t is not None and not 0 <= int(t) < len(ckpt.classes):
            raise ConfigError(f"class index {t} is out of range; the model has {len(ckpt.classes)} classes")
    model, lock = _replica(ckpt.model)
    x = tensor.detach().float()
    with lock, torch.enable_grad():
        target_layers = _layers(model, layer)
        # The weights are frozen, so nothing before the target layer needs a graph: this hook (registered
        # before the CAM's own, so they see its result) restarts autograd at the layer's output. Backward
        # then runs only through the layers after it, several times cheaper than back to the input.
        cuts = [t.register_forward_hook(lambda module, args, out: out.detach().requires_grad_(True)) for t in target_layers]
        try:
            if all(t is None for t in targets):
                chosen = None  # the CAM explains each image's top class from its own forward pass
            else:
                if any(t is None for t in targets):  # mixed: the missing targets need the top class first
                    with torch.no_grad():
                        top = model(x).argmax(dim=1).tolist()
                    targets = [t if t is not None else top[i] for i, t in enumerate(targets)]
                chosen = [ClassifierOutputTarget(int(t)) for t in targets]
            cams = None
            with cam_class(model=model, target_layers=target_layers) as cam:
                if method in SLOW_METHODS:
                    cam.on_progress = on_progress
                cams = cam(input_tensor=x, targets=chosen)
                logits = cam.outputs.detach().float()
        finally:
            for cut in cuts:
                cut.remove()
        if cams is None:  # BaseCAM.__exit__ swallows IndexError; report it instead of returning nothing
            raise ConfigError(f"{method} failed on layer {layer or 'default'}")
    cams = np.nan_to_num(np.asarray(cams, dtype=np.float32))
    return np.clip(cams, 0.0, 1.0), logits


def gradcam(
    ckpt: Checkpoint, tensor: torch.Tensor, target_class: int | None = None, method: str = "gradcam",
    layer: str | None = None,
) -> np.ndarray:
    """The class activation map of one image: (H, W) float32 in [0, 1] at the input's size.

    tensor: (1, 3, H, W) normalised. target_class: the class to explain ("why not X?"); None = top class.
    method: a key of CAM_METHODS. layer: a stage name; None = the last conv stage.
    """
    cams, _ = cam_and_logits(ckpt, tensor[:1], [target_class], method, layer)
    return cams[0]


def gradcam_batch(
    ckpt: Checkpoint, tensors: torch.Tensor, target_classes: list[int | None] | None = None,
    method: str = "gradcam", layer: str | None = None, batch_size: int = 64,
) -> np.ndarray:
    """CAMs for many images: tensors (N, 3, H, W) normalised -> (N, H, W) float32 in [0, 1]."""
    targets = list(target_classes) if target_classes is not None else [None] * len(tensors)
    parts = [cam_and_logits(ckpt, tensors[i:i + batch_size], targets[i:i + batch_size], method, layer)[0]
             for i in range(0, len(tensors), batch_size)]
    h, w = tensors.shape[-2:]
    return np.concatenate(parts) if parts else np.zeros((0, h, w), np.float32)


def heatmap_rgb(heatmap: np.ndarray, colormap: int = cv2.COLORMAP_JET) -> np.ndarray:
    """(h, w) float in [0, 1] -> (h, w, 3) uint8 RGB through an OpenCV colour map (blue = cold, red = hot)."""
    grey = np.uint8(np.clip(np.nan_to_num(heatmap), 0, 1) * 255)
    return cv2.cvtColor(cv2.applyColorMap(grey, colormap), cv2.COLOR_BGR2RGB)


def overlay(image: np.ndarray, heatmap: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """Blend a heatmap onto a photo. image: (H, W, 3) uint8; heatmap: (h, w) float in [0, 1], resized
    (bilinear) to the image; alpha: the heatmap's weight in [0, 1]. Returns (H, W, 3) uint8."""
    h, w = image.shape[:2]
    heat = np.asarray(heatmap, dtype=np.float32)
    if heat.shape != (h, w):
        heat = cv2.resize(heat, (w, h), interpolation=cv2.INTER_LINEAR)
    alpha = float(np.clip(alpha, 0.0, 1.0))
    blended = (1 - alpha) * image.astype(np.float32) + alpha * heatmap_rgb(heat).astype(np.float32)
    return np.clip(blended + 0.5, 0, 255).astype(np.uint8)


def pixelated(pixels: np.ndarray, size: int = 256) -> np.ndarray:
    """What the network sees, made visible: (s, s, 3) uint8 scaled up with nearest neighbour to about
    ``size`` pixels (an integer factor, so every input pixel becomes an equal square)."""
    factor = max(1, size // max(pixels.shape[:2]))
    return np.repeat(np.repeat(pixels, factor, axis=0), factor, axis=1)


@dataclass
class Explanation:
    """One photo explained: what the model saw, what it thinks, and where it looked."""

    probs: np.ndarray  # (classes,) float32, calibrated by the checkpoint's temperature
    heatmap: np.ndarray  # (s, s) float32 in [0, 1], s = the model's input size
    pixels: np.ndarray  # (s, s, 3) uint8: the input the network saw
    photo: np.ndarray  # (d, d, 3) uint8: the same centre crop at display size, for the overlay
    target: int  # the class the heatmap explains


def explain_photo(
    ckpt: Checkpoint, image, target_class: int | None = None, method: str = "gradcam", layer: str | None = None,
    display_size: int = 320, on_progress: Callable[[int, int], None] | None = None,
) -> Explanation:
    """Preprocess a photo (path, bytes, PIL image or array), predict and explain it in one forward pass.

    target_class: the class to explain; None = the top prediction. on_progress(done, total): called as a slow
    method (Score-CAM) scores its channels. Raises ImageError for an unusable image and ConfigError for an unknown
    method, layer or class.
    """
    pre = preprocess(image, ckpt, display_size=display_size)
    cams, logits = cam_and_logits(ckpt, pre.tensor, [target_class], method, layer, on_progress)
    probs = logits_to_probabilities(ckpt, logits)[0].numpy().astype(np.float32)
    target = int(target_class) if target_class is not None else int(logits[0].argmax())
    return Explanation(probs, cams[0], pre.pixels, pre.photo if display_size else pre.pixels, target)


# ---------------------------------------------------------------------------------------------------------------
# Feature maps and filters


@dataclass
class FeatureMap:
    channel: int
    mean: float  # mean activation over the map
    values: np.ndarray  # (h, w) float32 raw activations


def stage_output(ckpt: Checkpoint, tensor: torch.Tensor, layer: str) -> torch.Tensor:
    """The output of stage ``layer`` for a normalised batch (N, 3, H, W): (N, C, h, w) float32.
    Runs the stages in order without hooks, so it is safe on the shared model."""
    names = [n for n, _ in ckpt.model.named_stages()]
    if layer not in names:
        raise ConfigError(f"the model has no stage {layer!r}; choose one of {', '.join(names)}")
    x = tensor.float()
    with torch.inference_mode():
        for name, module in ckpt.model.named_stages():
            x = module(x)
            if name == layer:
                return x.float()
    raise AssertionError("unreachable")


def feature_maps(ckpt: Checkpoint, tensor: torch.Tensor, layer: str, top: int = 16) -> list[FeatureMap]:
    """The ``top`` most active channels of stage ``layer`` for one image (1, 3, H, W), most active first."""
    out = stage_output(ckpt, tensor[:1], layer)
    if out.dim() != 4:
        raise ConfigError(f"stage {layer!r} has no spatial output (shape {tuple(out.shape[1:])}); pick a conv stage")
    maps = out[0]
    means = maps.mean(dim=(1, 2))
    order = means.argsort(descending=True)[:top].tolist()
    return [FeatureMap(c, float(means[c]), maps[c].numpy().astype(np.float32)) for c in order]


@dataclass
class StageMaps:
    name: str
    shape: tuple[int, int, int]  # the stage's output: channels, height, width
    maps: list[FeatureMap]  # its most active channels, most active first


def stage_overview(ckpt: Checkpoint, tensor: torch.Tensor, top: int = 6) -> list[StageMaps]:
    """One image (1, 3, H, W), normalised, through every conv stage in one pass: per stage (in order) its output
    shape and its ``top`` most active channels. No hooks, so it is safe on the shared model."""
    wanted = set(ckpt.model.conv_stage_names())
    found: list[StageMaps] = []
    x = tensor[:1].float()
    with torch.inference_mode():
        for name, module in ckpt.model.named_stages():
            x = module(x)
            if name in wanted and x.dim() == 4:
                maps = x[0].float()
                means = maps.mean(dim=(1, 2))
                order = means.argsort(descending=True)[:top].tolist()
                found.append(StageMaps(name, tuple(maps.shape),
                                       [FeatureMap(c, float(means[c]), maps[c].numpy().astype(np.float32)) for c in order]))
            if len(found) == len(wanted):
                break
    return found


def normalise_map(values: np.ndarray) -> np.ndarray:
    """Rescale any array to float32 [0, 1] (a flat map becomes zeros)."""
    v = np.asarray(values, dtype=np.float32)
    lo, hi = float(v.min(initial=0.0)), float(v.max(initial=0.0))
    return (v - lo) / (hi - lo) if hi > lo else np.zeros_like(v)


def first_layer_filters(ckpt: Checkpoint) -> np.ndarray:
    """The first convolution's learned filters as colour patches: (K, kh, kw, 3) uint8, each filter
    stretched to the full 0..255 range symmetrically around zero (grey = 0), so its colour shows what it
    responds to. Filters that do not see RGB directly are shown as grey (mean over input channels)."""
    w = ckpt.model.first_conv().weight.detach().float()  # (K, C, kh, kw)
    if w.shape[1] != 3:
        w = w.mean(dim=1, keepdim=True).expand(-1, 3, -1, -1)
    scale = w.flatten(1).abs().amax(dim=1).clamp_min(1e-8).view(-1, 1, 1, 1)
    patches = (w / scale * 127.5 + 127.5).clamp(0, 255).round().to(torch.uint8)
    return patches.permute(0, 2, 3, 1).numpy()


# ---------------------------------------------------------------------------------------------------------------
# Evaluation sample, calibration threshold and the top images per channel


def eval_sample(ckpt: Checkpoint) -> ImageSet | None:
    """The checkpoint's evaluation sample (``eval_sample.zip``) at the model's input size, labelled in the
    model's class order; None when the checkpoint has none."""
    if ckpt.path is None or not (ckpt.path / SAMPLE_NAME).is_file():
        return None
    try:
        ds = load_images(ckpt.path / SAMPLE_NAME, "val", input_size=ckpt.input_size)
        return align_classes(ds, ckpt.classes)
    except DataError:
        return None


def eval_sample_files(ckpt: Checkpoint, per_class: int = 2, limit: int = 40) -> list[tuple[str, str]]:
    """Up to ``per_class`` original image files of each class from the eval sample, as (path, class) pairs
    (at most ``limit``), for example galleries. Empty when the checkpoint has no eval sample."""
    if ckpt.path is None or not (ckpt.path / SAMPLE_NAME).is_file():
        return []
    try:
        ds = load_images(ckpt.path / SAMPLE_NAME, "val")
    except DataError:
        return []
    if not ds.files or not ds.split_dir:
        return []
    by_class: dict[str, list[str]] = {}
    for f, label in zip(ds.files, ds.labels.tolist(), strict=True):
        files = by_class.setdefault(ds.classes[label], [])
        if len(files) < per_class and (Path(ds.split_dir) / f).is_file():
            files.append(str(Path(ds.split_dir) / f))
    # Round-robin over classes, so a limit shows many classes rather than many images of the first few.
    picks = [(files[r], name) for r in range(per_class) for name, files in by_class.items() if r < len(files)]
    return picks[:limit]


def unsure_threshold(ckpt: Checkpoint) -> float:
    """Below this calibrated top probability the live tab says "not sure".

    Probabilities are divided by the temperature fitted on the validation split, so they mean "how often
    a guess this confident is right"; the threshold is where that drops under one in two. For many
    classes a low but clear winner is still informative, so it never exceeds ten times chance. With FEW_CLASSES or
    fewer (a taught model), the top probability must be halfway between chance and certainty. A checkpoint whose
    config.json holds a fitted ``unsure_threshold`` (``python -m core.unsure``) uses that instead.
    """
    fitted = ckpt.config.get("unsure_threshold")  # fitted on empty camera frames by core.unsure
    if isinstance(fitted, (int, float)) and 0 < fitted < 1:
        return float(fitted)
    classes = len(ckpt.classes)
    if classes <= FEW_CLASSES:  # 1/classes is already "one in two" or more: ask for halfway between chance and certainty
        return (1.0 + 1.0 / classes) / 2
    return float(min(UNSURE_PROBABILITY, 10.0 / classes))


def weights_key(ckpt: Checkpoint) -> str:
    """A short fingerprint of the checkpoint's weights file."""
    if ckpt.path is None:
        raise CheckpointError("this checkpoint was not loaded from a folder")
    return weights_sha256(ckpt.path)[:16]


@dataclass
class ChannelIndex:
    """For each conv stage and channel, the eval-sample images that excite it most.

    top[layer]: (C, k) int indices into the eval sample, most exciting first; score[layer]: (C, k) float
    (the channel's spatial max activation on that image)."""

    key: str
    top: dict[str, np.ndarray]
    score: dict[str, np.ndarray]


def _index_paths(ckpt: Checkpoint) -> list[Path]:
    # Beside the weights so a fresh clone has it (it is a few tens of kB); the cache folder when the
    # checkpoint folder is read-only.
    return [ckpt.path / CHANNEL_INDEX_FILE, cache_dir() / "channels" / f"{weights_key(ckpt)}.json"]


def compute_channel_index(ckpt: Checkpoint, sample: ImageSet, k: int = TOP_IMAGES, batch_size: int = 128) -> dict:
    """Scores every sample image for every channel of every conv stage (spatial max activation).
    Returns {layer: (top (C, k) int64, score (C, k) float32)}."""
    names = ckpt.model.conv_stage_names()
    scores: dict[str, list[torch.Tensor]] = {n: [] for n in names}
    with torch.inference_mode():
        for i in range(0, len(sample), batch_size):
            x = to_model_input(sample.images[i:i + batch_size], ckpt.mean, ckpt.std)
            for name, module in ckpt.model.named_stages():
                x = module(x)
                if name in scores:
                    scores[name].append(x.flatten(2).amax(dim=2).float())
                if name == names[-1]:
                    break
    result = {}
    for name, parts in scores.items():
        s = torch.cat(parts).T  # (C, N)
        val, idx = s.topk(min(k, s.shape[1]), dim=1)
        result[name] = (idx.numpy().astype(np.int64), val.numpy().astype(np.float32))
    return result


def channel_index(ckpt: Checkpoint, build: bool = True) -> ChannelIndex | None:
    """The top images per channel, from the on-disk cache (keyed by weights and eval sample), computed and
    saved when missing and ``build``. None when the checkpoint has no eval sample."""
    if ckpt.path is None or not (ckpt.path / SAMPLE_NAME).is_file():
        return None
    key = f"v{CHANNEL_INDEX_VERSION}:{weights_key(ckpt)}:{file_sha256(ckpt.path / SAMPLE_NAME)[:16]}"
    cached = _memory_index.get(key)
    if cached is not None:
        return cached
    for path in _index_paths(ckpt):
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if data.get("key") == key:
            index = ChannelIndex(key, {n: np.array(v["top"], np.int64) for n, v in data["layers"].items()},
                                 {n: np.array(v["score"], np.float32) for n, v in data["layers"].items()})
            _memory_index[key] = index
            return index
    if not build:
        return None
    sample = eval_sample(ckpt)
    if sample is None:
        return None
    computed = compute_channel_index(ckpt, sample)
    index = ChannelIndex(key, {n: t for n, (t, _) in computed.items()}, {n: s for n, (_, s) in computed.items()})
    payload = json.dumps({"key": key, "layers": {n: {"top": t.tolist(), "score": np.round(s, 4).tolist()}
                                                 for n, (t, s) in computed.items()}}, separators=(",", ":"))  # shipped: compact
    for path in _index_paths(ckpt):
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            tmp.write_text(payload)
            os.replace(tmp, path)
            break
        except OSError:
            continue
    _memory_index[key] = index
    return index


_memory_index: dict[str, ChannelIndex] = {}


@dataclass
class ChannelImage:
    pixels: np.ndarray  # (s, s, 3) uint8, the sample image at the model's input size
    label: str  # its true class
    activation: float  # the channel's max activation on it


def top_images(ckpt: Checkpoint, layer: str, channel: int, k: int = TOP_IMAGES) -> list[ChannelImage]:
    """The ``k`` eval-sample images that excite ``channel`` of stage ``layer`` most. Empty when the
    checkpoint has no eval sample. Raises ConfigError for an unknown layer or channel."""
    index = channel_index(ckpt)
    if index is None:
        return []
    if layer not in index.top:
        raise ConfigError(f"no conv stage {layer!r}; choose one of {', '.join(index.top)}")
    top = index.top[layer]
    if not 0 <= channel < len(top):
        raise ConfigError(f"stage {layer} has channels 0 to {len(top) - 1}, not {channel}")
    sample = eval_sample(ckpt)
    return [ChannelImage(sample.images[i].permute(1, 2, 0).numpy(), sample.classes[int(sample.labels[i])], float(s))
            for i, s in zip(top[channel][:k].tolist(), index.score[layer][channel][:k].tolist(), strict=True)]



# ---------------------------------------------------------------------------------------------------------------
# Command line: precompute the top images per channel (the app also does it in the background at start)


def main(argv: list[str] | None = None) -> int:
    import argparse
    import sys
    import time

    parser = argparse.ArgumentParser(description="Precompute the top validation images per channel of checkpoints.")
    parser.add_argument("checkpoints", nargs="+", help="checkpoint folders with an eval_sample.zip")
    args = parser.parse_args(argv)
    status = 0
    for folder in args.checkpoints:
        start = time.perf_counter()
        try:
            index = channel_index(load_checkpoint(folder))
        except UserError as err:
            print(f"{folder}: error: {err}", file=sys.stderr)
            status = 1
            continue
        if index is None:
            print(f"{folder}: no {SAMPLE_NAME}, nothing to rank")
        else:
            channels = sum(len(t) for t in index.top.values())
            print(f"{folder}: {channels} channels in {len(index.top)} stages ({time.perf_counter() - start:.1f} s)")
    return status


if __name__ == "__main__":
    raise SystemExit(main())
