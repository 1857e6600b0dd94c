"""Checkpoints as folders anyone can open without our code (the Hugging Face model-repo layout).

    config.json         architecture and its options, classes, groups, input size, normalisation,
                        dataset (name, fingerprint, split), training recipe, calibration temperature
    model.safetensors   the weights (loaded without unpickling anything); weights over 10 MB continue in
                        model.2.safetensors, model.3.safetensors, ... (its metadata says how many parts);
                        an ensemble's members are ``members.0.*``, ``members.1.*`` ..., and with
                        "weight_format": "int8" the larger tensors are int8 with per-channel scales,
                        with "int4" two 4-bit values per byte with a scale per 32 weights (with
                        "int4_from": a layer, the layers before it and the classifier int8), with
                        "float16" every floating-point tensor as float16
    metrics.json        validation figures and the per-epoch history
    README.md           the model card

Writes are atomic: a checkpoint is built in a temporary sibling folder and renamed into place, so a
reader never sees a half-written one.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from core.errors import CheckpointError, ConfigError
from core.models import Ensemble, count_parameters, create_model

FORMAT = "what-the-cnn-sees/1"
REQUIRED_FILES = ("config.json", "model.safetensors")
MAX_FILE_BYTES = 10 * 1024 * 1024  # a Hugging Face Space takes files up to 10 MB without LFS
INT8 = "int8"  # config.json "weight_format": weights stored by quantize_int8
INT8_SCALE = ".int8_scale"
INT4 = "int4"  # ... or by quantize_int4
INT4_SCALE, INT4_SHAPE = ".int4_scale", ".int4_shape"
INT4_GROUP = 32  # weights sharing one int4 scale
FLOAT16 = "float16"  # ... or every floating-point tensor as float16 (half of float32, next to no loss)
WEIGHT_FORMATS = (INT8, INT4, FLOAT16)
CHECKPOINTS_DIR = Path(__file__).resolve().parent.parent / "checkpoints"
MAX_PARAMETERS = 100_000_000  # 400 MB of float32 weights: 20x the largest network here, and what a CPU can train
MAX_CLASSES = 100_000


@dataclass
class Checkpoint:
    """A loaded checkpoint: the model in eval mode and everything needed to feed it and read its output."""

    path: Path | None
    model: torch.nn.Module
    config: dict
    metrics: dict = field(default_factory=dict)

    @property
    def classes(self) -> list[str]:
        return self.config["classes"]

    @property
    def groups(self) -> dict[str, list[str]]:
        return self.config.get("groups") or {}

    @property
    def input_size(self) -> int:
        return int(self.config["input_size"])

    @property
    def mean(self) -> list[float]:
        return self.config["mean"]

    @property
    def std(self) -> list[float]:
        return self.config["std"]

    @property
    def temperature(self) -> float:
        t = self.config.get("temperature")
        return 1.0 if t is None else float(t)

    @property
    def name(self) -> str:
        return self.path.name if self.path else self.config.get("arch", "model")


def build_config(
    arch: str, arch_kwargs: dict, classes: list[str], input_size: int, mean: list[float], std: list[float],
    groups: dict[str, list[str]] | None = None, dataset: dict | None = None, recipe: dict | None = None,
    temperature: float = 1.0,
) -> dict:
    """The config.json contents. Tuples become lists so the file is plain JSON."""
    return {
        "format": FORMAT,
        "arch": arch,
        "arch_kwargs": json.loads(json.dumps(arch_kwargs)),
        "num_classes": len(classes),
        "classes": list(classes),
        "groups": groups or {},
        "input_size": int(input_size),
        "mean": [float(m) for m in mean],
        "std": [float(s) for s in std],
        "dataset": dataset or {},
        "recipe": recipe or {},
        "temperature": float(temperature),
    }


def create_checked_model(arch: str, num_classes: int, input_size: int, **kwargs) -> torch.nn.Module:
    """core.models.create_model, after building the network on the "meta" device (no memory) to check it has at
    most MAX_PARAMETERS weights: options such as ``{"widths": [100000, 100000, 100000]}`` would otherwise try to
    allocate terabytes. Raises ConfigError."""
    with torch.device("meta"):
        size = count_parameters(create_model(arch, num_classes, input_size, **kwargs))
    if size > MAX_PARAMETERS:
        raise ConfigError(f"{arch} with these options would have {size:,} parameters; the limit is {MAX_PARAMETERS:,} "
                          "(use smaller widths)")
    return create_model(arch, num_classes, input_size, **kwargs)


def model_from_config(config: dict) -> torch.nn.Module:
    """The network config.json describes (untrained); an Ensemble when it lists ``members``."""
    specs = config.get("members") or [config]
    nets = []
    for spec in specs:
        kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in spec.get("arch_kwargs", {}).items()}
        nets.append(create_checked_model(spec["arch"], len(config["classes"]), config["input_size"], **kwargs))
    return Ensemble(nets) if config.get("members") else nets[0]


def _quantizable(v: torch.Tensor) -> bool:
    return v.is_floating_point() and v.dim() >= 2 and v.numel() >= 1024


def quantize_int8(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Weight matrices and filters (float, 2+ dims, 1024+ values) as int8 with one float32 scale per output
    channel under ``<name>.int8_scale``; a quarter of float32's bytes. Smaller tensors (BatchNorm, biases, the
    whitening filters) stay float32."""
    out = {}
    for key, v in state.items():
        if _quantizable(v):
            out[key], out[key + INT8_SCALE] = _int8(v)
        else:
            out[key] = v.float() if v.is_floating_point() else v
    return out


def _int8(v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    w = v.float()
    scale = w.flatten(1).abs().amax(dim=1).clamp_min(1e-12) / 127
    return (w / scale.view(-1, *[1] * (w.dim() - 1))).round().clamp(-127, 127).to(torch.int8), scale


def quantize_int4(state: dict[str, torch.Tensor], group: int = INT4_GROUP, int4_from: str | None = None) -> dict[str, torch.Tensor]:
    """The tensors ``quantize_int8`` takes, as 4-bit integers (-7..7) packed two per byte, each run of ``group``
    weights of an output channel with its own float16 scale (``<name>.int4_scale``, the shape in
    ``<name>.int4_shape``): 4.5 bits a weight, 56% of int8. Per-group scales keep the error small where one
    scale per channel would not (a channel's largest weight would set the step for all of them).

    int4_from: a layer name (e.g. "stage3"): the tensors before it (in each network of an ensemble) and the
    classifier stay int8; only the layers from it on up to the classifier become int4. The first layers hold few
    weights but int4 hurts them most: on the CIFAR-10 ResNets, int4 from stage3 kept the three-network accuracy
    (94.02%) where int4 throughout cost 0.3 points. Raises CheckpointError when no network has that layer."""
    if group < 2 or group % 2:
        raise ValueError(f"the int4 group must be an even number of weights, got {group}")
    low = _int8_keys(state, int4_from) if int4_from else set()
    out = {}
    for key, v in state.items():
        if not _quantizable(v):
            out[key] = v.float() if v.is_floating_point() else v
            continue
        if key in low:
            out[key], out[key + INT8_SCALE] = _int8(v)
            continue
        rows = v.float().flatten(1)
        rows = torch.nn.functional.pad(rows, (0, -rows.shape[1] % group)).view(len(rows), -1, group)
        scale = (rows.abs().amax(dim=2) / 7).clamp_min(2**-14).half()  # float16's smallest normal number
        q = (rows / scale.float().unsqueeze(2)).round().clamp(-7, 7).to(torch.uint8) + 8
        q = q.flatten(1)
        out[key] = q[:, 0::2] | (q[:, 1::2] << 4)
        out[key + INT4_SCALE] = scale
        out[key + INT4_SHAPE] = torch.tensor(v.shape, dtype=torch.int64)
    return out


def _int8_keys(state: dict[str, torch.Tensor], layer: str) -> set[str]:
    """For int4 from ``layer`` on: the keys of ``state`` that stay int8, those before ``layer`` in their network
    (an ensemble's members are ``members.<i>.``-prefixed; the state dict's order follows the layers from input to
    output) and each network's last weight matrix, the classifier (few weights, and as sensitive as the first;
    too small to quantize at all in some networks)."""
    int8, reached, last = set(), set(), {}
    for key, v in state.items():
        net, local = re.match(r"((?:members\.\d+\.)?)(.*)", key).groups()
        if local == layer or local.startswith(layer + "."):
            reached.add(net)
        if net not in reached:
            int8.add(key)
        if v.is_floating_point() and v.dim() >= 2:
            last[net] = key
    if not reached:
        layers = sorted({k.split(".")[0] for k in state if not k.startswith("members.")}
                        or {k.split(".")[2] for k in state if k.startswith("members.")})
        raise CheckpointError(f"no layer {layer!r} to start int4 from; the layers are {', '.join(layers)}")
    return int8 | set(last.values())


def quantize(state: dict[str, torch.Tensor], weight_format: str, int4_from: str | None = None) -> dict[str, torch.Tensor]:
    """The weights as ``weight_format`` (one of WEIGHT_FORMATS) stores them; ``int4_from``: see quantize_int4."""
    if weight_format not in WEIGHT_FORMATS:
        raise CheckpointError(f"unknown weight format {weight_format!r}; expected one of {', '.join(WEIGHT_FORMATS)}")
    if int4_from and weight_format != INT4:
        raise CheckpointError(f"int4_from goes with the int4 format, not {weight_format}")
    if weight_format == FLOAT16:
        return {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
    return quantize_int8(state) if weight_format == INT8 else quantize_int4(state, int4_from=int4_from)


def round_trip(model: torch.nn.Module, weight_format: str, int4_from: str | None = None) -> torch.nn.Module:
    """Give ``model`` (in place) the weights it will have after saving as ``weight_format`` and loading, to
    measure those."""
    model.load_state_dict(dequantize(quantize(model.state_dict(), weight_format, int4_from)))
    return model


def dequantize(weights: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Undo ``quantize_int8`` or ``quantize_int4`` (a no-op on weights stored as floats)."""
    suffixes = (INT8_SCALE, INT4_SCALE, INT4_SHAPE)
    out = {k: v for k, v in weights.items() if not k.endswith(suffixes)}
    for key, scale in weights.items():
        if key.endswith(INT8_SCALE):
            name = key[: -len(INT8_SCALE)]
            if name not in out or out[name].shape[:1] != scale.shape:
                raise CheckpointError(f"the int8 weights have a scale {key!r} without a matching tensor")
            w = out[name].float()
            out[name] = w * scale.float().view(-1, *[1] * (w.dim() - 1))
        elif key.endswith(INT4_SCALE):
            name = key[: -len(INT4_SCALE)]
            out[name] = _unpack_int4(name, out.get(name), scale, weights.get(name + INT4_SHAPE))
    return out


def _unpack_int4(name: str, packed: torch.Tensor | None, scale: torch.Tensor, shape: torch.Tensor | None) -> torch.Tensor:
    if packed is None or shape is None or packed.dtype != torch.uint8 or packed.dim() != 2 or scale.dim() != 2 \
            or len(packed) != len(scale) or (2 * packed.shape[1]) % scale.shape[1]:
        raise CheckpointError(f"the int4 weights {name!r} do not match their scale and shape")
    size = [int(d) for d in shape.tolist()]
    n = math.prod(size[1:])
    q = torch.stack([packed & 15, packed >> 4], dim=2).flatten(1).float() - 8
    if size[0] != len(q) or not 0 <= q.shape[1] - n < q.shape[1] // scale.shape[1]:  # padding: under one group
        raise CheckpointError(f"the int4 weights {name!r} do not match their recorded shape {size}")
    w = q.view(len(q), scale.shape[1], -1) * scale.float().unsqueeze(2)
    return w.flatten(1)[:, :n].reshape(size)


def state_dict_for_saving(model: torch.nn.Module, weight_format: str | None = None,
                          int4_from: str | None = None) -> dict[str, torch.Tensor]:
    """The weights as contiguous CPU tensors, without DDP prefixes.

    Floating-point tensors are stored as float16 when float32 would not fit the 10 MB file limit (a
    Space rejects larger files); loading casts them back to float32, which changes accuracy by far less
    than the validation noise. ``weight_format`` "int8", "int4" (and ``int4_from``) or "float16": see ``quantize`` (shipped
    ensembles use them).
    """
    module = getattr(model, "module", model)
    state = {k: v.detach().to("cpu").contiguous().clone() for k, v in module.state_dict().items()}
    if weight_format:
        return quantize(state, weight_format, int4_from)
    float_bytes = sum(v.numel() * 4 for v in state.values() if v.is_floating_point())
    if float_bytes > MAX_FILE_BYTES * 0.95:
        state = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
    return state


def _parts(state: dict[str, torch.Tensor], limit: int) -> list[dict[str, torch.Tensor]]:
    """Split the weights, in order, into dicts of at most ``limit`` bytes each (a tensor is never split)."""
    parts: list[dict[str, torch.Tensor]] = [{}]
    size = 0
    for key, tensor in state.items():
        nbytes = tensor.numel() * tensor.element_size()
        if parts[-1] and size + nbytes > limit:
            parts.append({})
            size = 0
        parts[-1][key] = tensor
        size += nbytes
    return parts


def weight_files(path: str | Path, parts: int | None = None) -> list[Path]:
    """The weight files of the checkpoint at ``path``: model.safetensors, then model.2.safetensors ... when split.
    ``parts``: how many (default: as many as model.safetensors' metadata says)."""
    path = Path(path)
    if parts is None:
        parts = _declared_parts(path / "model.safetensors")
    return [path / "model.safetensors"] + [path / f"model.{i}.safetensors" for i in range(2, parts + 1)]


def _declared_parts(first: Path) -> int:
    try:
        with safe_open(str(first), framework="pt") as f:
            return int((f.metadata() or {}).get("parts", 1))
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"{first} is corrupt ({err})") from err


def _is_weight_part(name: str) -> bool:
    return name.startswith("model.") and name.endswith(".safetensors") and name[6:-12].isdigit()


def save_checkpoint(
    path: str | Path, model: torch.nn.Module, config: dict, metrics: dict | None = None,
    card: str | None = None, extra_files: dict[str, Path] | None = None,
) -> Path:
    """Write the checkpoint folder atomically (build in a temporary sibling, then rename). Returns ``path``.

    extra_files: name -> existing file to copy into the folder (a curve plot, an evaluation sample).
    Weights too large for one file are split into parts (see ``weight_files``).
    Raises CheckpointError if another file would exceed 10 MB.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    tmp.chmod(0o755)  # mkdtemp makes it private; a checkpoint is meant to be shared
    try:
        parts = _parts(state_dict_for_saving(model, config.get("weight_format"), config.get("int4_from")), int(MAX_FILE_BYTES * 0.95))
        for file, part in zip(weight_files(tmp, len(parts)), parts, strict=True):
            save_file(part, str(file), metadata={"format": FORMAT, "parts": str(len(parts))})
        _write_json(tmp / "config.json", config)
        _write_json(tmp / "metrics.json", metrics or {})
        (tmp / "README.md").write_text(card or f"# {path.name}\n\n{config['arch']} on {config.get('dataset', {}).get('name', '?')}\n")
        for name, src in (extra_files or {}).items():
            shutil.copy2(src, tmp / name)
        if path.exists():  # keep files we do not write (eval samples, caches) from the previous version
            for old in path.iterdir():
                if old.is_file() and not (tmp / old.name).exists() and not _is_weight_part(old.name):
                    shutil.copy2(old, tmp / old.name)
        for f in tmp.iterdir():
            if f.is_file() and f.stat().st_size > MAX_FILE_BYTES:
                raise CheckpointError(f"{f.name} is {f.stat().st_size / 1e6:.1f} MB; checkpoint files must stay under 10 MB")
        _replace_dir(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def _replace_dir(new: Path, target: Path) -> None:
    """Swap ``new`` in as ``target``; the old folder (if any) is removed only after the rename."""
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        os.replace(target, old)
        os.replace(new, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(new, target)


def write_config(path: str | Path, config: dict) -> None:
    """Replace the config.json of the checkpoint folder at ``path`` atomically (a fitted setting added to it)."""
    target = Path(path) / "config.json"
    part = target.with_name(f".config.json.{os.getpid()}.part")
    _write_json(part, config)
    os.replace(part, target)


def _write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as err:
        raise CheckpointError(f"{path} is not valid JSON ({err}); the checkpoint is corrupt") from err
    if not isinstance(data, dict):
        raise CheckpointError(f"{path} should hold a JSON object")
    return data


def _finite(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _string_list(x) -> bool:
    return isinstance(x, list) and all(isinstance(v, str) and v for v in x)


def config_problem(config: dict) -> str | None:
    """What is wrong with a config.json's contents, naming the field (None when nothing is): the fields a model
    needs must have the right types and ranges, or predictions would be NaN (std or temperature 0) or crash."""
    from core.data import INPUT_SIZES

    lo, hi = INPUT_SIZES
    for key in ("arch", "classes", "input_size", "mean", "std"):
        if key not in config:
            return f"{key!r} is missing"
    classes, size, temperature = config["classes"], config["input_size"], config.get("temperature", 1.0)
    checks = [
        ("arch", isinstance(config["arch"], str) and config["arch"], "a non-empty string (an architecture name)"),
        ("classes", _string_list(classes) and 2 <= len(classes) <= MAX_CLASSES and len(set(classes)) == len(classes),
         f"a list of 2 to {MAX_CLASSES:,} different non-empty strings"),
        ("input_size", isinstance(size, int) and not isinstance(size, bool) and lo <= size <= hi,
         f"a whole number of pixels from {lo} to {hi}"),
        ("mean", isinstance(config["mean"], list) and len(config["mean"]) == 3 and all(map(_finite, config["mean"])),
         "a list of 3 finite numbers (one per colour channel)"),
        ("std", isinstance(config["std"], list) and len(config["std"]) == 3
         and all(_finite(v) and v > 0 for v in config["std"]), "a list of 3 finite numbers above 0"),
        ("temperature", temperature is None or (_finite(temperature) and temperature > 0), "a finite number above 0"),
        ("groups", config.get("groups") is None or (isinstance(config["groups"], dict)
                                                   and all(_string_list(m) for m in config["groups"].values())),
         "an object of group name -> list of class names"),
        ("arch_kwargs", isinstance(config.get("arch_kwargs", {}), dict), "an object of architecture options"),
        ("members", config.get("members") is None or (isinstance(config["members"], list) and all(
            isinstance(m, dict) and isinstance(m.get("arch"), str) and isinstance(m.get("arch_kwargs", {}), dict)
            for m in config["members"])), "a list of objects with an 'arch' and 'arch_kwargs'"),
    ]
    for key, ok, expected in checks:
        if not ok:
            shown = json.dumps(config.get(key))
            return f"{key!r} should be {expected}, not {shown if len(shown) <= 60 else shown[:60] + '...'}"
    return None


def read_config(path: str | Path) -> dict:
    """The checked config.json of the checkpoint folder ``path`` (without loading the weights). Raises
    CheckpointError when the folder or a required file is missing, or config.json is broken (naming the field)."""
    path = Path(path)
    try:
        if not path.is_dir():
            raise CheckpointError(f"no checkpoint folder at {str(path)[:200]}")
    except OSError as err:  # a name too long
        raise CheckpointError(f"no checkpoint folder at {str(path)[:200]} ({err.strerror})") from err
    for name in REQUIRED_FILES:
        if not (path / name).is_file():
            raise CheckpointError(f"{path / name} is missing; a checkpoint needs {', '.join(REQUIRED_FILES)}")
    config = _read_json(path / "config.json")
    problem = config_problem(config)
    if problem:
        raise CheckpointError(f"the checkpoint {path.name} is broken: in config.json, {problem}")
    return config


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Open a checkpoint folder; the model comes back on the CPU in eval mode.

    Raises CheckpointError naming the file that is missing, corrupt or does not match the others.
    """
    path = Path(path)
    config = read_config(path)
    weights: dict[str, torch.Tensor] = {}
    for file in weight_files(path):
        if not file.is_file():
            raise CheckpointError(f"{file} is missing; {path / 'model.safetensors'} says the weights come in parts")
        try:
            weights.update(load_file(str(file)))
        except (SafetensorError, OSError, ValueError) as err:
            raise CheckpointError(f"{file} is corrupt ({err})") from err
    try:
        model = model_from_config(config)
    except ConfigError as err:
        raise CheckpointError(f"the checkpoint {path.name} is broken: config.json describes no usable network ({err})") from err
    try:
        model.load_state_dict(dequantize(weights))
    except RuntimeError as err:
        first = str(err).strip().splitlines()[0]
        raise CheckpointError(
            f"{path / 'model.safetensors'} does not match the architecture in config.json ({first})"
        ) from err
    model.eval()
    metrics = _read_json(path / "metrics.json") if (path / "metrics.json").is_file() else {}
    return Checkpoint(path, model, config, metrics)


def weights_sha256(checkpoint_dir: str | Path) -> str:
    """sha256 of the checkpoint's ``model.safetensors`` (of its parts' digests when split); caches derived from
    a model are keyed by it."""
    import hashlib

    from core.data import file_sha256

    files = weight_files(checkpoint_dir)
    if len(files) == 1:
        return file_sha256(files[0])
    return hashlib.sha256("".join(file_sha256(f) for f in files).encode()).hexdigest()


def list_checkpoints(*dirs: str | Path) -> list[Path]:
    """Every checkpoint folder (one holding config.json and model.safetensors) directly inside ``dirs``."""
    found = []
    for d in dirs:
        d = Path(d)
        if d.is_dir():
            found += [p for p in sorted(d.iterdir())
                      if p.is_dir() and not p.name.startswith(".") and all((p / f).is_file() for f in REQUIRED_FILES)]
    return found


def checkpoint_label(path: Path, metrics: dict | None = None) -> str:
    """``cifar10-resnet (94.1%)``: a checkpoint's name with its validation top-1, for model selectors."""
    if metrics is None:
        try:
            metrics = json.loads((path / "metrics.json").read_text())
        except (OSError, json.JSONDecodeError):
            metrics = {}
    top1 = (metrics.get("val") or {}).get("top1")
    return f"{path.name} ({100 * top1:.1f}%)" if isinstance(top1, (int, float)) else path.name


class CheckpointStore:
    """The checkpoints the app can serve: found in ``dirs``, each loaded once and reloaded when its weights
    change on disk. Thread-safe; models are only ever used for inference (training happens in another process
    on its own copy), so one loaded model can serve every request."""

    def __init__(self, *dirs: str | Path):
        import threading

        self.dirs = [Path(d) for d in dirs]
        self._lock = threading.Lock()
        self._loaded: dict[Path, tuple[float, Checkpoint]] = {}

    def paths(self) -> list[Path]:
        return list_checkpoints(*self.dirs)

    def choices(self) -> list[tuple[str, str]]:
        """(label, path) pairs for a dropdown, e.g. ("cifar10-resnet (94.1%)", "/.../checkpoints/cifar10-resnet")."""
        return [(checkpoint_label(p), str(p)) for p in self.paths()]

    def get(self, path: str | Path) -> Checkpoint:
        """The loaded checkpoint at ``path`` (a folder, or a bare name found in ``dirs``). Raises CheckpointError."""
        path = Path(path)
        if not path.is_dir():
            named = [p for p in self.paths() if p.name == str(path)]
            if not named:
                raise CheckpointError(f"no checkpoint named {str(path)!r}; choose one of {', '.join(p.name for p in self.paths())}")
            path = named[0]
        path = path.resolve()
        try:
            stamp = (path / "model.safetensors").stat().st_mtime_ns
        except OSError as err:
            raise CheckpointError(f"{path / 'model.safetensors'} is missing") from err
        with self._lock:
            cached = self._loaded.get(path)
            if cached and cached[0] == stamp:
                return cached[1]
            ckpt = load_checkpoint(path)
            self._loaded[path] = (stamp, ckpt)
            return ckpt
