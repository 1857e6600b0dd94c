"""Pretrained weights from other formats: a TFLite MobileNetV2 ImageNet classifier -> a checkpoint folder.

    python -m core.convert --tflite ../shared/pretrained/mobilenet_v2_1.0_224_quant.tflite \\
        --labels ../shared/pretrained/imagenet_labels.txt --output-dir checkpoints/imagenet-mobilenetv2

The file is read with the pure-Python ``tflite`` flatbuffer bindings (no TensorFlow). Its convolutions are
matched in execution order to ``core.models.mobilenetv2``'s, each checked for kind, shape, stride, padding and
activation, and dequantised ((q - zero_point) * scale, per tensor or per output channel as the file says). The
final 1x1 convolution becomes the linear classifier without its "background" output, so class i is ImageNet class i.
The input tensor's quantisation says how pixels map to the values the network expects; that becomes the
checkpoint's mean and std.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

from core.checkpoint import build_config, load_checkpoint, save_checkpoint, write_config
from core.data import file_sha256, load_train_val, per_class_sample, write_sample_zip
from core.errors import CheckpointError, ConfigError, DataError, UserError
from core.evaluate import SAMPLE_NAME, cached_evaluation
from core.explain import channel_index
from core.models import InvertedResidual, SameConv2d, create_model
from core.train import class_key

GROUPS_FILE = Path(__file__).with_name("imagenet_groups.json")
# ImageNet's label list names two classes "crane" (a bird, a machine) and two "maillot".
RENAMED_CLASSES = {134: "crane (bird)", 517: "crane (machine)", 639: "tank suit"}
# Where the shipped files come from (see the model card).
SOURCE_REPOSITORY = "https://github.com/google-coral/test_data"
SOURCE_COMMIT = "104342d2d3480b3e66203073dac24f4e2dbb4c41"

# tflite.TensorType values
_FLOAT32, _INT32, _UINT8, _INT8 = 0, 2, 3, 9
_NUMPY = {_FLOAT32: np.float32, _INT32: np.int32, _UINT8: np.uint8, _INT8: np.int8}


@dataclass
class TFLiteConv:
    """One CONV_2D or DEPTHWISE_CONV_2D of the file, dequantised. weight: PyTorch layout (out, in/groups, kh, kw)."""

    name: str
    depthwise: bool
    weight: np.ndarray
    bias: np.ndarray
    stride: tuple[int, int]
    same_padding: bool
    relu6: bool


@dataclass
class TFLiteClassifier:
    convs: list[TFLiteConv]
    residual_adds: int
    ops: list[str]
    input_shape: tuple[int, ...]
    mean: list[float]
    std: list[float]


def _dequantize(tensor, buffer: np.ndarray, axis: int) -> np.ndarray:
    """(q - zero_point) * scale with one scale per tensor, or per index along ``axis`` when the file has many."""
    ttype = tensor.Type()
    if ttype not in _NUMPY:
        raise CheckpointError(f"tensor {tensor.Name().decode()} has an unsupported type {ttype}")
    values = buffer.view(_NUMPY[ttype]).reshape(tensor.ShapeAsNumpy()).astype(np.float64)
    q = tensor.Quantization()
    if ttype == _FLOAT32 or q is None or q.ScaleLength() == 0:
        return values.astype(np.float32)
    scale, zero = q.ScaleAsNumpy().astype(np.float64), q.ZeroPointAsNumpy().astype(np.float64)
    if len(scale) > 1:
        shape = [1] * values.ndim
        shape[q.QuantizedDimension()] = len(scale)
        scale, zero = scale.reshape(shape), zero.reshape(shape)
    return ((values - zero) * scale).astype(np.float32)


def read_tflite(path: str | Path) -> TFLiteClassifier:
    """The convolutions (in execution order), residual adds and input scaling of a TFLite image classifier.

    Raises CheckpointError for a file that is not a readable TFLite model."""
    try:
        import tflite
    except ImportError as err:  # pragma: no cover - a requirement
        raise CheckpointError("reading TFLite files needs the 'tflite' package: pip install tflite") from err
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no TFLite file at {path}")
    data = path.read_bytes()
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise CheckpointError(f"{path.name} is not a TFLite model (no TFL3 identifier)")
    try:
        model = tflite.Model.GetRootAsModel(data, 0)
        graph = model.Subgraphs(0)
        op_names = {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}
        buffers = [model.Buffers(i).DataAsNumpy() for i in range(model.BuffersLength())]
        convs, adds, ops = [], 0, []
        for i in range(graph.OperatorsLength()):
            op = graph.Operators(i)
            code = model.OperatorCodes(op.OpcodeIndex())
            kind = op_names.get(max(code.BuiltinCode(), code.DeprecatedBuiltinCode()), "?")
            ops.append(kind)
            if kind == "ADD":
                adds += 1
            if kind not in ("CONV_2D", "DEPTHWISE_CONV_2D"):
                continue
            depthwise = kind == "DEPTHWISE_CONV_2D"
            options_cls = tflite.DepthwiseConv2DOptions if depthwise else tflite.Conv2DOptions
            options = options_cls()
            table = op.BuiltinOptions()
            options.Init(table.Bytes, table.Pos)
            w_t, b_t = graph.Tensors(op.Inputs(1)), graph.Tensors(op.Inputs(2))
            # TFLite keeps conv filters as (out, kh, kw, in) and depthwise ones as (1, kh, kw, channels)
            weight = _dequantize(w_t, buffers[w_t.Buffer()], axis=0)
            weight = weight.transpose(3, 0, 1, 2) if depthwise else weight.transpose(0, 3, 1, 2)
            bias = _dequantize(b_t, buffers[b_t.Buffer()], axis=0)
            convs.append(TFLiteConv(
                name=w_t.Name().decode(), depthwise=depthwise, weight=np.ascontiguousarray(weight), bias=bias,
                stride=(options.StrideH(), options.StrideW()), same_padding=options.Padding() == tflite.Padding.SAME,
                relu6=options.FusedActivationFunction() == tflite.ActivationFunctionType.RELU6))
        inp = graph.Tensors(graph.Inputs(0))
        mean, std = _input_scaling(inp)
        return TFLiteClassifier(convs, adds, ops, tuple(int(d) for d in inp.ShapeAsNumpy()), mean, std)
    except CheckpointError:
        raise
    except Exception as err:  # a damaged flatbuffer raises anything from struct.error to IndexError
        raise CheckpointError(f"{path.name} could not be read as a TFLite model ({type(err).__name__}: {err})") from err


def _input_scaling(tensor) -> tuple[list[float], list[float]]:
    """The checkpoint's mean and std (on pixels / 255) that give the values the file's input tensor stands for.

    uint8 input: pixel p means (p - zero_point) * scale; int8 input: the pixel shifted by -128 first. A float input
    carries no scaling; MobileNets expect [-1, 1] then."""
    q = tensor.Quantization()
    if tensor.Type() == _FLOAT32 or q is None or q.ScaleLength() == 0:
        return [0.5] * 3, [0.5] * 3
    scale, zero = float(q.ScaleAsNumpy()[0]), float(q.ZeroPointAsNumpy()[0])
    if tensor.Type() == _INT8:
        zero += 128
    return [zero / 255] * 3, [1 / (255 * scale)] * 3


# ---------------------------------------------------------------------------------------------------------------
# Into the PyTorch network


def _convs_in_order(model: nn.Module) -> list[tuple[SameConv2d, bool]]:
    """The network's convolutions in execution order, each with whether ReLU6 follows it."""
    found = []
    for module in model.modules():
        if isinstance(module, nn.Sequential) and len(module) == 2 and isinstance(module[0], SameConv2d):
            found.append((module[0], isinstance(module[1], nn.ReLU6)))
    return found


def load_tflite_weights(model: nn.Module, source: TFLiteClassifier, drop_background: bool = True) -> None:
    """Copy the file's weights into ``model`` (a ``mobilenetv2`` with 1000 classes), in place.

    Raises CheckpointError naming the first layer whose kind, shape, stride, padding or activation differ."""
    targets = _convs_in_order(model)
    if len(source.convs) != len(targets) + 1:
        raise CheckpointError(f"the file has {len(source.convs)} convolutions; MobileNetV2 1.0 has {len(targets) + 1}"
                              " (is it a MobileNetV2 1.0 classifier?)")
    residuals = sum(1 for m in model.modules() if isinstance(m, InvertedResidual) and m.residual)
    if source.residual_adds != residuals:
        raise CheckpointError(f"the file has {source.residual_adds} residual additions; MobileNetV2 has {residuals}")
    with torch.no_grad():
        for (conv, relu6), src in zip(targets, source.convs[:-1], strict=True):
            problem = None
            if tuple(conv.weight.shape) != src.weight.shape:
                problem = f"shape {src.weight.shape}, expected {tuple(conv.weight.shape)}"
            elif (conv.groups > 1) != src.depthwise or conv.stride != src.stride:
                problem = f"depthwise {src.depthwise} stride {src.stride}, expected stride {conv.stride}"
            elif not src.same_padding or src.relu6 != relu6:
                problem = f"padding SAME {src.same_padding}, ReLU6 {src.relu6}, expected SAME and ReLU6 {relu6}"
            if problem:
                raise CheckpointError(f"layer {src.name} does not fit MobileNetV2: {problem}")
            conv.weight.copy_(torch.from_numpy(src.weight))
            conv.bias.copy_(torch.from_numpy(src.bias))
        logits = source.convs[-1]
        weight, bias = logits.weight[:, :, 0, 0], logits.bias
        if drop_background:
            weight, bias = weight[1:], bias[1:]
        linear = model.head[-1]
        if tuple(linear.weight.shape) != weight.shape:
            raise CheckpointError(f"the classifier has shape {weight.shape}, expected {tuple(linear.weight.shape)}")
        linear.weight.copy_(torch.from_numpy(np.ascontiguousarray(weight)))
        linear.bias.copy_(torch.from_numpy(np.ascontiguousarray(bias)))


def imagenet_class_names(labels_file: str | Path) -> list[str]:
    """The 1000 class names, readable and unique: each line's first name ("golden retriever"), background dropped."""
    lines = [line.strip() for line in Path(labels_file).read_text().splitlines() if line.strip()]
    if len(lines) == 1001 and lines[0].lower() == "background":
        lines = lines[1:]
    if len(lines) != 1000:
        raise ConfigError(f"{labels_file} should list the 1000 ImageNet classes (optionally after 'background'), "
                          f"it has {len(lines)} lines")
    names = [RENAMED_CLASSES.get(i, line.split(",")[0].strip()) for i, line in enumerate(lines)]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ConfigError(f"{labels_file} names several classes {', '.join(repeated)}")
    return names


def imagenet_groups(classes: list[str], groups_file: str | Path = GROUPS_FILE) -> dict[str, list[str]]:
    """Group name -> class names, from the groups file's ImageNet indices (every class in exactly one group)."""
    indices = json.loads(Path(groups_file).read_text())["groups"]
    seen = sorted(i for members in indices.values() for i in members)
    if seen != list(range(len(classes))):
        raise ConfigError(f"{groups_file} must place each of the {len(classes)} classes in exactly one group")
    return {group: [classes[i] for i in members] for group, members in indices.items()}


def update_metrics(checkpoint_dir: str | Path, figures: dict) -> None:
    """Add ``figures`` to a converted checkpoint's metrics.json and write its card again from them."""
    from core.report import pretrained_card

    checkpoint_dir = Path(checkpoint_dir)
    path = checkpoint_dir / "metrics.json"
    metrics = {**(json.loads(path.read_text()) if path.is_file() else {}), **figures}
    path.write_text(json.dumps(metrics, indent=2) + "\n")
    config = json.loads((checkpoint_dir / "config.json").read_text())
    (checkpoint_dir / "README.md").write_text(pretrained_card(checkpoint_dir.name, config, metrics))


def write_known_class_sample(checkpoint_dir: str | Path, data: str | Path, per_class: int, seed: int = 0) -> Path:
    """The checkpoint's evaluation sample from another dataset whose classes it knows by name: up to ``per_class``
    images of each class of ``data``'s validation split (10%, seed 0, as the fine-tuned models use), filed under the
    checkpoint's own class names (everyday50's "golden_retriever" is ImageNet's "golden retriever"). Then the
    evaluation cache and the top images per channel, as ``core.bundle`` writes them. Returns the sample's path.

    Raises DataError when a class of ``data`` is not one of the checkpoint's."""
    checkpoint_dir = Path(checkpoint_dir)
    ckpt = load_checkpoint(checkpoint_dir)
    _, val = load_train_val(data, 0.1, 0)
    known = {class_key(c): c for c in ckpt.classes}
    missing = [c for c in val.classes if class_key(c) not in known]
    if missing:
        raise DataError(f"{', '.join(missing[:5])} are not classes of {checkpoint_dir.name}")
    val = replace(val, classes=[known[class_key(c)] for c in val.classes])
    sample = write_sample_zip(val.subset(per_class_sample(val.labels, per_class, seed)), checkpoint_dir / SAMPLE_NAME)
    ev = cached_evaluation(ckpt, recompute=True)
    present = torch.tensor(sorted(set(ev.labels.tolist())))
    figures = {"source": Path(data).name, "images": ev.n, "classes": len(present),
               "top1": float((ev.preds == ev.labels).float().mean()),
               "top1_among_present": float((present[ev.logits[:, present].argmax(1)] == ev.labels).float().mean())}
    channel_index(load_checkpoint(checkpoint_dir))
    config = {**ckpt.config, "recipe": {**(ckpt.config.get("recipe") or {}), "sample_data": Path(data).name,
                                        "per_class": per_class}}
    write_config(checkpoint_dir, config)
    update_metrics(checkpoint_dir, {"sample": figures})
    return sample


def convert(tflite_file: str | Path, labels_file: str | Path, input_size: int = 224) -> tuple[nn.Module, dict]:
    """The converted network (eval mode) and its config.json. ``input_size``: the side the app feeds it; the
    weights are the same at any size (the padding follows the input)."""
    source = read_tflite(tflite_file)
    classes = imagenet_class_names(labels_file)
    model = create_model("mobilenetv2", num_classes=len(classes), input_size=input_size)
    load_tflite_weights(model, source)
    model.eval()
    tflite_file = Path(tflite_file)
    config = build_config(
        "mobilenetv2", {}, classes, input_size, source.mean, source.std, imagenet_groups(classes),
        dataset={"name": "imagenet", "source": "ImageNet-1k (ILSVRC 2012) training set, trained by Google"})
    config["source"] = {"repository": SOURCE_REPOSITORY, "commit": SOURCE_COMMIT, "file": tflite_file.name,
                        "sha256": file_sha256(tflite_file), "licence": "Apache-2.0",
                        "trained_input_size": int(source.input_shape[1])}
    return model, config


# ---------------------------------------------------------------------------------------------------------------
# Command line


def main(argv: list[str] | None = None) -> int:
    from core.report import pretrained_card

    p = argparse.ArgumentParser(prog="python -m core.convert",
                                description="Convert a TFLite MobileNetV2 ImageNet classifier into a checkpoint folder.")
    p.add_argument("--tflite", required=True, help="the .tflite file (uint8 or int8 quantised, or float)")
    p.add_argument("--labels", required=True, help="ImageNet labels, one a line (a first 'background' line is dropped)")
    p.add_argument("--output-dir", required=True, help="checkpoint folder to write")
    p.add_argument("--input-size", type=int, default=224, help="the side (pixels) the app feeds the network")
    p.add_argument("--weight-format", choices=["float16", "int8"], default="float16",
                   help="storage of the weights (float16: 7 MB; int8: 3.6 MB)")
    p.add_argument("--sample-data", default=None, metavar="DATASET",
                   help="an image-folder dataset of ImageNet classes (e.g. everyday50): its validation images become "
                        "the checkpoint's evaluation sample for the Error analysis tab")
    p.add_argument("--per-class", type=int, default=10, help="with --sample-data: images per class")
    args = p.parse_args(argv)
    try:
        model, config = convert(args.tflite, args.labels, args.input_size)
        if args.weight_format == "int8":
            config["weight_format"] = "int8"
        # float16 otherwise: save_checkpoint stores float weights over the file limit as float16
        save_checkpoint(args.output_dir, model, config, {}, pretrained_card(Path(args.output_dir).name, config, {}))
        if args.sample_data:
            write_known_class_sample(args.output_dir, args.sample_data, args.per_class)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(json.dumps({"output_dir": args.output_dir, "classes": len(config["classes"]), "input_size": args.input_size,
                      "mean": config["mean"][0], "std": config["std"][0], "sha256": config["source"]["sha256"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
