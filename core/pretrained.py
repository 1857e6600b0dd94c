"""Pretrained networks to fine-tune from: a checkpoint folder, or torchvision's ImageNet weights by name.

    --init-from checkpoints/imagenet-mobilenetv2          a checkpoint folder (shipped, converted or trained here)
    --init-from torchvision:resnet18                      torchvision's default ImageNet weights for that model
    --init-from torchvision:mobilenet_v3_large:IMAGENET1K_V2

torchvision's weights are downloaded once into torch's cache (``TORCH_HOME``, ~/.cache/torch) and read from there
afterwards, so they need the internet only the first time.
"""

from __future__ import annotations

from pathlib import Path

import torch

from core.checkpoint import Checkpoint, build_config, load_checkpoint
from core.errors import CheckpointError, ConfigError
from core.models import stage_torchvision

TORCHVISION = "torchvision:"
IMAGENET_MEAN, IMAGENET_STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]  # torchvision's ImageNet normalisation


def is_torchvision(source: str | Path | None) -> bool:
    return isinstance(source, str) and source.startswith(TORCHVISION)


def _weights(source: str):
    """``torchvision:NAME[:WEIGHTS]`` -> (NAME, torchvision's weights entry); ConfigError for unknown names."""
    import torchvision

    parts = source[len(TORCHVISION):].split(":")
    name, weights_name = parts[0], (parts[1] if len(parts) > 1 else "DEFAULT")
    try:
        return name, torchvision.models.get_model_weights(name)[weights_name]
    except (ValueError, KeyError) as err:
        raise ConfigError(f"no torchvision weights {weights_name!r} for model {name!r}") from err


def torchvision_checkpoint(source: str) -> Checkpoint:
    """``torchvision:NAME[:WEIGHTS]`` -> a Checkpoint (no folder) holding that network with its ImageNet weights, its
    1000 class names, input size and normalisation. Raises ConfigError for an unknown model or weights name and
    CheckpointError when the weights cannot be had (offline and not in torch's cache)."""
    import torchvision

    name, weights = _weights(source)
    classes = list(weights.meta["categories"])
    input_size = int(getattr(weights.transforms(), "crop_size", [224])[0])
    try:
        state = torch.hub.load_state_dict_from_url(weights.url, progress=False, check_hash=False, map_location="cpu")
    except (OSError, RuntimeError, ValueError) as err:  # URLError is an OSError
        raise CheckpointError(f"could not get torchvision's {name} weights ({type(err).__name__}: {err}); they are "
                              f"downloaded once into {torch.hub.get_dir()}, which needs the internet the first time") from err
    net = torchvision.models.get_model(name, weights=None, num_classes=len(classes))
    try:
        net.load_state_dict(state)
    except RuntimeError as err:
        raise CheckpointError(f"the cached {name} weights do not fit the model ({str(err).splitlines()[0]})") from err
    model = stage_torchvision(net).eval()  # the layout create_model("torchvision", model=...) rebuilds
    config = build_config("torchvision", {"model": name}, classes, input_size, IMAGENET_MEAN, IMAGENET_STD,
                          dataset={"name": "imagenet", "source": f"torchvision {name} {weights}"})
    return Checkpoint(None, model, config)


def pretrained_input_size(source: str | Path) -> int:
    """The input size the network ``--init-from`` names was trained at (what fine-tuning uses unless told)."""
    if is_torchvision(source):
        return int(getattr(_weights(source)[1].transforms(), "crop_size", [224])[0])
    return int(load_checkpoint(source).input_size)


def load_pretrained(source: str | Path) -> Checkpoint:
    """What ``--init-from`` names: a checkpoint folder or ``torchvision:NAME[:WEIGHTS]``."""
    return torchvision_checkpoint(source) if is_torchvision(source) else load_checkpoint(source)
