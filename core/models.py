"""The networks, built by name: ``create_model("resnet", num_classes=10, input_size=32)``.

Every model is an ``nn.Sequential``-like stack of named stages (``stem``, ``stage1`` ... ``head``), so the
explanation code can list layers, show feature maps and pick Grad-CAM target layers without knowing the
architecture. ``describe_stages`` gives each stage's output shape and parameter count.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from core.errors import ConfigError

MODELS: dict[str, Callable[..., nn.Module]] = {}


def register(name: str):
    def wrap(fn):
        MODELS[name] = fn
        return fn

    return wrap


def create_model(name: str, num_classes: int, input_size: int = 32, **kwargs) -> nn.Module:
    """Build a registered model. ``kwargs`` are the architecture's options (widths, dropout, ...).

    Raises ConfigError for an unknown name, fewer than two classes, or an unusable input size.
    """
    if name not in MODELS:
        raise ConfigError(f"unknown architecture {name!r}; choose from {', '.join(sorted(MODELS))}")
    if num_classes < 2:
        raise ConfigError(f"a classifier needs at least two classes, got {num_classes}")
    if input_size < 16 or input_size > 256:
        raise ConfigError(f"input size must be between 16 and 256 pixels, got {input_size}")
    try:
        return MODELS[name](num_classes=num_classes, input_size=input_size, **kwargs)
    except TypeError as err:
        raise ConfigError(f"bad option for {name}: {err}") from err


class StagedNet(nn.Sequential):
    """A stack of named stages. The last conv stage is the default Grad-CAM target."""

    def named_stages(self) -> list[tuple[str, nn.Module]]:
        return list(self.named_children())

    def conv_stage_names(self) -> list[str]:
        """Stages whose output is a spatial feature map (N, C, H, W), in order."""
        return [n for n, m in self.named_children() if any(isinstance(x, nn.Conv2d) for x in m.modules())]

    def first_conv(self) -> nn.Conv2d:
        return next(m for m in self.modules() if isinstance(m, nn.Conv2d))


# ---------------------------------------------------------------------------------------------------------------
# Building blocks


class BatchNorm(nn.BatchNorm2d):
    """BatchNorm whose scale is frozen at 1 (airbench: with ReLU-like activations after it a learned scale adds
    little and the frozen one lets the biases take a larger learning rate)."""

    def __init__(self, channels: int, momentum: float = 0.4, train_weight: bool = False):
        super().__init__(channels, momentum=momentum, eps=1e-5)
        self.weight.requires_grad_(train_weight)


def conv3x3(c_in: int, c_out: int, stride: int = 1, dirac: bool = False) -> nn.Conv2d:
    """A 3x3 convolution without bias. ``dirac``: the first ``c_in`` filters start as the identity (airbench's
    init: each layer begins by passing its input through, which trains faster from scratch)."""
    conv = nn.Conv2d(c_in, c_out, kernel_size=3, stride=stride, padding=1, bias=False)
    if dirac:
        with torch.no_grad():
            nn.init.dirac_(conv.weight[:c_in])
    return conv


class ConvBNAct(nn.Sequential):
    def __init__(self, c_in: int, c_out: int, stride: int = 1, dirac: bool = False):
        super().__init__(conv3x3(c_in, c_out, stride, dirac), BatchNorm(c_out), nn.GELU())


class Whitening(nn.Conv2d):
    """airbench's first layer: a frozen 2x2 convolution (no padding) whose filters whiten image patches.

    ``fit`` sets the filters to the eigenvectors of the patch covariance of training images, scaled by
    1/sqrt(eigenvalue), each with its negative (so a following GELU keeps both signs): 2 * 3 * 2 * 2 = 24
    channels. Only the bias trains, and only in the first epochs (see core.train)."""

    def __init__(self, c_in: int = 3, kernel: int = 2, stride: int = 1):
        super().__init__(c_in, 2 * c_in * kernel * kernel, kernel, stride=stride, padding=0, bias=True)
        self.weight.requires_grad_(False)

    @torch.no_grad()
    def fit(self, images: torch.Tensor, eps: float = 5e-4) -> None:
        """images: (N, C, H, W) float, normalised as the model sees them (a few thousand are plenty)."""
        c, (kh, kw) = images.shape[1], self.kernel_size
        patches = images.float().unfold(2, kh, 1).unfold(3, kw, 1).transpose(1, 3).reshape(-1, c * kh * kw)
        eigenvalues, eigenvectors = torch.linalg.eigh(patches.T @ patches / len(patches))
        filters = eigenvectors.T.flip(0).reshape(-1, c, kh, kw) / torch.sqrt(eigenvalues.flip(0) + eps).view(-1, 1, 1, 1)
        self.weight.copy_(torch.cat((filters, -filters)))
        self.bias.zero_()


def fit_to_data(model: nn.Module, images: torch.Tensor) -> None:
    """Initialise the layers that learn from data before training (the whitening stem), in place.
    images: (N, 3, H, W) float, normalised."""
    for m in model.modules():
        if isinstance(m, Whitening):
            m.fit(images)


def whitening_biases(model: nn.Module) -> list[nn.Parameter]:
    return [m.bias for m in model.modules() if isinstance(m, Whitening)]


class Residual(nn.Module):
    """x + GELU(BN(conv(x))): an identity shortcut around one 3x3 convolution."""

    def __init__(self, channels: int, dirac: bool = False):
        super().__init__()
        self.conv = conv3x3(channels, channels, dirac=dirac)
        self.norm = BatchNorm(channels)
        self.act = nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.act(self.norm(self.conv(x)))


class GroupResidual(nn.Module):
    """GELU(x + BN(conv(...(x)))): one identity shortcut around ``depth`` convolutions (airbench96's ConvGroup:
    conv-BN-GELU, then conv-BN, the skip added before the last activation)."""

    def __init__(self, channels: int, depth: int, dirac: bool = False):
        super().__init__()
        inner = [ConvBNAct(channels, channels, dirac=dirac) for _ in range(depth - 1)]
        self.body = nn.Sequential(*inner, conv3x3(channels, channels, dirac=dirac), BatchNorm(channels))
        self.act = nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(x + self.body(x))


class ResStage(nn.Module):
    """conv (widen) -> 2x2 max-pool -> BN -> GELU, then ``depth`` units at the pooled resolution.

    The layout of airbench's ConvGroup. shortcut: True, each unit behind its own skip connection; False, plain
    conv-BN-GELU units (airbench94/95); "group", one skip connection around all ``depth`` units (airbench96)."""

    def __init__(self, c_in: int, c_out: int, depth: int, shortcut: bool | str = True, dirac: bool = False):
        super().__init__()
        self.conv = conv3x3(c_in, c_out, dirac=dirac)
        self.pool = nn.MaxPool2d(2)
        self.norm = BatchNorm(c_out)
        self.act = nn.GELU()
        if shortcut == "group":
            units = [GroupResidual(c_out, depth, dirac)] if depth else []
        elif shortcut:
            units = [Residual(c_out, dirac) for _ in range(depth)]
        else:
            units = [ConvBNAct(c_out, c_out, dirac=dirac) for _ in range(depth)]
        self.blocks = nn.Sequential(*units)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.act(self.norm(self.pool(self.conv(x)))))


class Scale(nn.Module):
    """Multiply by a constant (airbench scales logits by 1/9 so a high learning rate stays stable)."""

    def __init__(self, factor: float):
        super().__init__()
        self.factor = factor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.factor


# ---------------------------------------------------------------------------------------------------------------
# Architectures


@register("resnet")
def resnet(
    num_classes: int, input_size: int = 32, widths: tuple[int, ...] = (64, 256, 256), depth: int = 1,
    stem_width: int = 32, stem_stride: int | None = None, dropout: float = 0.0, logit_scale: float = 1 / 9,
    stem: str = "conv", shortcut: bool | str = True, dirac: bool = False,
) -> StagedNet:
    """A small residual network for 32x32 and 64x64 images (about 2 M parameters at the defaults).

    stem: "conv", a 3x3 conv to ``stem_width`` (stride 2 when the input is 64 or larger, so a 64x64 photo
    costs about what a 32x32 one does), or "whiten", airbench's frozen 2x2 whitening conv (24 channels,
    fitted to the training data by ``fit_to_data``); then one ResStage per width, each halving the
    resolution; then a global max-pool and a linear head. ``depth`` units per stage, each residual unless
    ``shortcut`` is False (airbench's plain conv-BN-GELU) or "group" (one skip around the stage's units, as in
    airbench96). ``dirac``: identity-initialised convolutions.
    """
    if not widths or any(w < 1 for w in widths) or depth < 0:
        raise ConfigError(f"widths must be positive and depth >= 0, got widths={widths}, depth={depth}")
    if stem not in ("conv", "whiten"):
        raise ConfigError(f"stem must be 'conv' or 'whiten', got {stem!r}")
    if shortcut not in (True, False, "group"):
        raise ConfigError(f"shortcut must be true, false or \"group\", got {shortcut!r}")
    stride = stem_stride or (2 if input_size >= 64 else 1)
    if input_size // stride < 2 ** len(widths):
        raise ConfigError(f"input size {input_size} is too small for {len(widths)} stages")
    if stem == "whiten":
        whiten = Whitening(3, kernel=2, stride=stride)
        layers: dict[str, nn.Module] = {"stem": nn.Sequential(whiten, nn.GELU())}
        c_in = whiten.out_channels
    else:
        layers = {"stem": ConvBNAct(3, stem_width, stride)}
        c_in = stem_width
    for i, width in enumerate(widths, start=1):
        layers[f"stage{i}"] = ResStage(c_in, width, depth, shortcut, dirac)
        c_in = width
    layers["pool"] = nn.Sequential(nn.AdaptiveMaxPool2d(1), nn.Flatten())
    layers["head"] = nn.Sequential(nn.Dropout(dropout), nn.Linear(c_in, num_classes, bias=False), Scale(logit_scale))
    return StagedNet(_ordered(layers))


@register("simplecnn")
def simplecnn(
    num_classes: int, input_size: int = 32, width: int = 64, hidden: int = 512, dropout: float = 0.5,
    batchnorm: bool = True,
) -> StagedNet:
    """The project log's plain CNN: two conv-conv-pool stages and a dense layer with dropout, no shortcuts.

    stage1: conv(width) conv(width) pool; stage2: conv(2*width) conv(2*width) pool; then flatten,
    dense(``hidden``) with dropout, and the classifier.
    """

    def block(c_in: int, c_out: int) -> nn.Sequential:
        norm = (lambda c: nn.BatchNorm2d(c)) if batchnorm else (lambda c: nn.Identity())
        return nn.Sequential(
            nn.Conv2d(c_in, c_out, 3, padding=1, bias=not batchnorm), norm(c_out), nn.ReLU(inplace=True),
            nn.Conv2d(c_out, c_out, 3, padding=1, bias=not batchnorm), norm(c_out), nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
        )

    if width < 1 or hidden < 1 or not 0 <= dropout < 1:
        raise ConfigError(f"width and hidden must be positive and dropout in [0, 1), got {width}, {hidden}, {dropout}")
    side = input_size // 4
    layers = {
        "stage1": block(3, width),
        "stage2": block(width, 2 * width),
        "dense": nn.Sequential(nn.Flatten(), nn.Dropout(dropout / 2), nn.Linear(2 * width * side * side, hidden),
                               nn.ReLU(inplace=True)),
        "head": nn.Sequential(nn.Dropout(dropout), nn.Linear(hidden, num_classes)),
    }
    return StagedNet(_ordered(layers))


class SameConv2d(nn.Conv2d):
    """A convolution with TensorFlow's SAME padding: the output has ceil(input / stride) positions, and when the
    padding is odd the extra row and column go to the bottom and right. A symmetric PyTorch ``padding=`` would
    shift every stride-2 layer by half a pixel against weights trained in TensorFlow. The padding is computed from
    the input's size on each call, so any input size works."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int = 1, groups: int = 1, bias: bool = True):
        super().__init__(c_in, c_out, kernel, stride=stride, padding=0, groups=groups, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = []
        for size, k, s in zip(reversed(x.shape[-2:]), reversed(self.kernel_size), reversed(self.stride), strict=True):
            total = max((math.ceil(size / s) - 1) * s + k - size, 0)
            pads += [total // 2, total - total // 2]
        if any(pads):
            x = nn.functional.pad(x, pads)
        return super().forward(x)


class ConvReLU6(nn.Sequential):
    """SAME convolution (batch norm folded into its weights and bias) then ReLU6, MobileNetV2's unit."""

    def __init__(self, c_in: int, c_out: int, kernel: int = 1, stride: int = 1, groups: int = 1, act: bool = True):
        super().__init__(SameConv2d(c_in, c_out, kernel, stride, groups), nn.ReLU6() if act else nn.Identity())


class InvertedResidual(nn.Module):
    """MobileNetV2's block: 1x1 expand (skipped when ``expand`` is 1), 3x3 depthwise, 1x1 linear projection; the
    input is added back when shape allows (stride 1, same width)."""

    def __init__(self, c_in: int, c_out: int, stride: int, expand: int):
        super().__init__()
        hidden = c_in * expand
        layers = [ConvReLU6(c_in, hidden)] if expand != 1 else []
        layers += [ConvReLU6(hidden, hidden, 3, stride, groups=hidden), ConvReLU6(hidden, c_out, act=False)]
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x) if self.residual else self.body(x)


# MobileNetV2's stages (Sandler et al. 2018, table 2): expansion, output channels, blocks, first block's stride.
MOBILENETV2_STAGES = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))


@register("mobilenetv2")
def mobilenetv2(num_classes: int, input_size: int = 224, dropout: float = 0.0, features: int = 1280) -> StagedNet:
    """MobileNetV2 1.0 in the layout of TensorFlow's ImageNet models (``core.convert`` loads their weights): batch norm
    folded into each convolution (so convolutions carry biases), SAME padding, ReLU6.

    stem: 3x3 conv, 32 channels, stride 2; stage1..stage7: the inverted-residual stages of MOBILENETV2_STAGES;
    features: 1x1 conv to ``features`` channels (the default Grad-CAM layer); pool: global average; head: dropout and
    the classifier. 3.5 M parameters with 1000 classes; the total stride is 32 (7x7 maps at 224 px, 5x5 at 160).
    """
    if input_size < 32:
        raise ConfigError(f"MobileNetV2 needs inputs of at least 32 pixels, got {input_size}")
    if not 0 <= dropout < 1 or features < 1:
        raise ConfigError(f"dropout must be in [0, 1) and features positive, got {dropout}, {features}")
    layers: dict[str, nn.Module] = {"stem": ConvReLU6(3, 32, 3, 2)}
    c_in = 32
    for i, (expand, c_out, blocks, stride) in enumerate(MOBILENETV2_STAGES, start=1):
        layers[f"stage{i}"] = nn.Sequential(*[InvertedResidual(c_in if b == 0 else c_out, c_out, stride if b == 0 else 1, expand)
                                              for b in range(blocks)])
        c_in = c_out
    layers["features"] = ConvReLU6(c_in, features)
    layers["pool"] = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
    layers["head"] = nn.Sequential(nn.Dropout(dropout), nn.Linear(features, num_classes))
    return StagedNet(_ordered(layers))


@register("torchvision")
def torchvision_net(num_classes: int, input_size: int = 224, model: str = "resnet18") -> StagedNet:
    """A torchvision classifier (``resnet18``, ``mobilenet_v3_large``, ``efficientnet_b0``, ...) rearranged into named
    stages, untrained; ``core.pretrained`` loads torchvision's ImageNet weights into it. ResNets: stem (conv, norm,
    pool), stage1..stage4, pool, head; networks with ``features`` and ``classifier``: stem, stage1..stageN (the
    feature blocks), pool, head."""
    import torchvision

    try:
        net = torchvision.models.get_model(model, weights=None, num_classes=num_classes)
    except ValueError as err:
        raise ConfigError(f"unknown torchvision model {model!r} ({err})") from err
    return stage_torchvision(net)


def stage_torchvision(net: nn.Module) -> StagedNet:
    """The modules of a torchvision classifier as a StagedNet (the same module objects, so weights loaded into ``net``
    before or after are shared). Raises ConfigError for a layout it does not know."""
    if all(hasattr(net, n) for n in ("conv1", "layer1", "avgpool", "fc")):  # ResNet, ResNeXt, Wide ResNet
        layers = {"stem": nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool)}
        layers |= {f"stage{i}": getattr(net, f"layer{i}") for i in range(1, 5)}
        layers |= {"pool": nn.Sequential(net.avgpool, nn.Flatten()), "head": nn.Sequential(nn.Dropout(0.0), net.fc)}
    elif all(hasattr(net, n) for n in ("features", "classifier")) and isinstance(net.features, nn.Sequential):
        blocks = list(net.features)
        layers = {"stem": blocks[0]} | {f"stage{i}": b for i, b in enumerate(blocks[1:], start=1)}
        pool = getattr(net, "avgpool", None) or nn.AdaptiveAvgPool2d(1)
        head = net.classifier if isinstance(net.classifier, nn.Sequential) else nn.Sequential(net.classifier)
        layers |= {"pool": nn.Sequential(pool, nn.Flatten()), "head": head}
    else:
        raise ConfigError(f"{type(net).__name__} has a layout the app cannot show stage by stage; "
                          "try a ResNet, MobileNet or EfficientNet")
    if not any(isinstance(m, nn.Linear) for m in layers["head"].modules()):
        raise ConfigError(f"{type(net).__name__}'s classifier has no linear layer to replace for new classes")
    return StagedNet(_ordered(layers))


def _ordered(layers: dict[str, nn.Module]):
    from collections import OrderedDict

    return OrderedDict(layers)


class Ensemble(nn.Module):
    """Several networks trained for the same classes on the same data, voting: the output is the log of their
    mean probabilities, so a softmax of it gives the averaged prediction (and temperature scaling still applies).

    The explanation views need one network to look inside: ``named_stages``, ``conv_stage_names`` and
    ``first_conv`` are those of the first member (Grad-CAM averages over all members, see core.explain)."""

    def __init__(self, members: list[nn.Module]):
        super().__init__()
        if not members:
            raise ConfigError("an ensemble needs at least one network")
        self.members = nn.ModuleList(members)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logp = torch.stack([m(x).float().log_softmax(dim=1) for m in self.members])
        return torch.logsumexp(logp, dim=0) - math.log(len(self.members))

    def named_stages(self) -> list[tuple[str, nn.Module]]:
        return self.members[0].named_stages()

    def conv_stage_names(self) -> list[str]:
        return self.members[0].conv_stage_names()

    def first_conv(self) -> nn.Conv2d:
        return self.members[0].first_conv()


def members(model: nn.Module) -> list[nn.Module]:
    """The networks that make up ``model``: its members for an Ensemble, else the model itself."""
    return list(model.members) if isinstance(model, Ensemble) else [model]


# ---------------------------------------------------------------------------------------------------------------
# Introspection


@dataclass
class StageInfo:
    name: str
    output_shape: tuple[int, ...]  # per image, e.g. (64, 16, 16)
    parameters: int


def describe_stages(model: StagedNet, input_size: int) -> list[StageInfo]:
    """Each stage with its output shape for one ``input_size`` x ``input_size`` image and its parameter count."""
    infos, x = [], torch.zeros(1, 3, input_size, input_size)
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for name, module in model.named_stages():
            x = module(x)
            infos.append(StageInfo(name, tuple(x.shape[1:]), sum(p.numel() for p in module.parameters())))
    model.train(was_training)
    return infos


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
