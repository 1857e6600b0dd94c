"""Datasets as uint8 tensors: image folders, archives, and CIFAR-10/100 by name.

Every source is decoded once into ``images`` (N, 3, H, W) uint8 and ``labels`` (N,) int64 and cached on
disk (safetensors, keyed by a fingerprint of the source), so the second load of CIFAR-10 takes about a
second. Training, evaluation and explanation all work from these tensors.

Accepted layouts for a folder or an archive (.zip, .tar.gz, .tgz, .tar):
``root/train/<class>/*.jpg`` with optional ``root/val/`` and ``root/test/``, or a flat ``root/<class>/*.jpg``;
an archive may wrap either in one top folder.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import os
import pickle
import shutil
import warnings
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps
from safetensors.torch import load_file, save_file

from core.archive import is_archive, safe_extract
from core.errors import DataError, ImageError

# ---------------------------------------------------------------------------------------------------------------
# Setup: where things live

REPO_DIR = Path(__file__).resolve().parent.parent
# The training archives ship beside the repository in ../shared/data; WTCS_DATA_DIR points elsewhere.
DATA_DIR = Path(os.environ.get("WTCS_DATA_DIR", REPO_DIR.parent / "shared" / "data"))
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
SPLITS = ("train", "val", "test")
LOADER_VERSION = 3  # bump when decoding changes, so stale caches are not reused
# The most pixels any entry point decodes: 40 megapixels (7,300 x 5,500) are 150 MB in Pillow's RGB, about the most
# one request may cost; Pillow's own limit (89 MP, an error only at 179 MP) would let one request take over 1 GB.
# A larger JPEG is fine when draft decoding (1/2 to 1/8 scale) brings it under the cap.
MAX_IMAGE_PIXELS = 40_000_000
SHRINK_ABOVE_PIXELS = 4_000_000  # decoded images above this are box-reduced at once (see _shrink)
INPUT_SIZES = (16, 256)  # the smallest and largest input side a model may have (as core.models.create_model checks)


# Disk bounds of the cache (an upload of 0.6 MB can unpack to 600 MB): the least recently used entries go first.
MAX_UNPACKED_BYTES = int(float(os.environ.get("WTCS_MAX_UNPACKED_GB", 4)) * 1024**3)  # unpacked archives
MAX_IMAGE_CACHE_BYTES = int(float(os.environ.get("WTCS_MAX_IMAGE_CACHE_GB", 8)) * 1024**3)  # decoded datasets


def cache_dir() -> Path:
    """Folder for decoded datasets and unpacked archives (``WTCS_CACHE_DIR`` or ~/.cache/what-the-cnn-sees)."""
    path = Path(os.environ.get("WTCS_CACHE_DIR", Path.home() / ".cache" / "what-the-cnn-sees"))
    path.mkdir(parents=True, exist_ok=True)
    return path


# Class groups a visitor understands. A dataset carries the grouping known for its name; a group's
# probability is the sum of its classes' probabilities.
KNOWN_GROUPS: dict[str, dict[str, list[str]]] = {
    "cifar10": {
        "animals": ["bird", "cat", "deer", "dog", "frog", "horse"],
        "vehicles": ["airplane", "automobile", "ship", "truck"],
    },
    "everyday50": {
        "food": ["banana", "bell_pepper", "ice_cream", "lemon", "mushroom", "orange", "pizza", "pomegranate",
                 "pretzel"],
        "drinks and kitchen": ["beer_bottle", "espresso", "frying_pan", "plate", "pop_bottle", "teapot",
                               "water_jug", "wok", "wooden_spoon"],
        "sport and toys": ["abacus", "basketball", "comic_book", "dumbbell", "rugby_ball", "teddy", "volleyball"],
        "clothing and accessories": ["backpack", "bow_tie", "cardigan", "sandal", "sock", "sombrero",
                                     "sunglasses", "umbrella"],
        "tools and household": ["binoculars", "broom", "bucket", "candle", "chain", "hourglass", "lampshade",
                                "magnetic_compass", "pill_bottle", "plunger", "syringe"],
        "electronics": ["computer_keyboard", "ipod", "remote_control", "stopwatch"],
        "animals": ["golden_retriever", "tabby"],
    },
}


@dataclass
class ImageSet:
    """A labelled set of images held as tensors.

    images: (N, 3, H, W) uint8, RGB.  labels: (N,) int64 indices into ``classes``.
    groups: group name -> class names (empty when the dataset has no grouping).
    """

    images: torch.Tensor
    labels: torch.Tensor
    classes: list[str]
    name: str
    fingerprint: str
    groups: dict[str, list[str]] = field(default_factory=dict)
    skipped: int = 0  # unreadable files that were passed over
    files: list[str] | None = None  # per image, its path inside ``split_dir`` (image folders only)
    split_dir: str | None = None  # the folder the images were decoded from (image folders only)

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def input_size(self) -> int:
        return int(self.images.shape[-1])

    def subset(self, index: torch.Tensor) -> ImageSet:
        """The images at ``index`` (a 1-D int64 tensor), same classes and groups."""
        files = [self.files[i] for i in index.tolist()] if self.files else None
        return replace(self, images=self.images[index], labels=self.labels[index], files=files)


# ---------------------------------------------------------------------------------------------------------------
# Decoding single images (shared with core.predict so photos and training data are treated alike)


def to_rgb(img: Image.Image) -> Image.Image:
    """Any PIL image as 8-bit RGB: grayscale, palette, CMYK, 16-bit and float become RGB; transparency
    is flattened onto white (a cut-out object on white looks like a product photo, not a black blob)."""
    if img.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if arr.max(initial=0) > 255 else 255.0
        img = Image.fromarray(np.clip(arr * (255.0 / top), 0, 255).astype(np.uint8), mode="L")
    if img.mode == "P":
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, rgba)
    return img.convert("RGB") if img.mode != "RGB" else img


def open_image(source: str | Path | bytes | Image.Image | np.ndarray, draft_size: int | None = None) -> Image.Image:
    """Open a photo from a path, bytes, a PIL image or an array as an upright 8-bit RGB PIL image.

    The one way every entry point (UI, API, CLI, datasets) opens an image. EXIF orientation is applied.
    ``draft_size``: the smallest side the caller needs; a larger image is shrunk right after decoding (JPEG
    already while decoding: an 8000x8000 photo decodes at 1/8 scale), so memory stays near one decoded copy.
    Raises ImageError for anything that is not a usable image, or larger than MAX_IMAGE_PIXELS.
    """
    if isinstance(source, np.ndarray):
        return _array_to_image(source)
    if isinstance(source, Image.Image):
        return _decode(source, draft_size)
    if isinstance(source, (bytes, bytearray, memoryview)):
        if not source:
            raise ImageError("the file is empty; expected a JPEG, PNG, WebP, BMP, GIF or TIFF image")
        return _decode(_open(io.BytesIO(source)), draft_size)
    path = Path(source)
    try:
        if not path.is_file():
            raise ImageError(f"no image file named {path.name!r}" if not path.exists()
                             else f"{path.name!r} is not a regular file; expected an image file")
        if path.stat().st_size == 0:
            raise ImageError(f"{path.name!r} is empty; expected a JPEG, PNG, WebP, BMP, GIF or TIFF image")
    except OSError as err:  # a name too long, a folder we may not read
        raise ImageError(f"cannot read {path.name[:80]!r} ({err.strerror or err})") from err
    with _open(path) as img:
        return _decode(img, draft_size)


_NOT_AN_IMAGE = "this file is not an image Pillow can read (expected JPEG, PNG, WebP, BMP, GIF or TIFF)"


def _too_large(width: int, height: int) -> ImageError:
    return ImageError(f"the image is {width:,}x{height:,} pixels; the limit is {MAX_IMAGE_PIXELS / 1e6:.0f} "
                      "megapixels (for example 7,000 x 5,700): make it smaller and try again")


def _open(fp) -> Image.Image:
    """Image.open (lazy: only the header is read) with every failure as an ImageError."""
    try:
        with warnings.catch_warnings():  # we check the size ourselves, against a lower limit
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return Image.open(fp)
    except Image.DecompressionBombError as err:
        raise ImageError(f"the image is far larger than the limit of {MAX_IMAGE_PIXELS / 1e6:.0f} megapixels "
                         "(for example 7,000 x 5,700): make it smaller and try again") from err
    except Exception as err:  # Pillow's plugins raise many types on hostile headers; all mean "not an image"
        raise ImageError(_NOT_AN_IMAGE) from err


def _decode(img: Image.Image, draft_size: int | None) -> Image.Image:
    """Decode an opened (lazy) image within the pixel cap, shrunk towards ``draft_size``, upright, 8-bit RGB."""
    width, height = img.size
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            if draft_size and img.format == "JPEG":
                img.draft("RGB", (draft_size, draft_size))  # the cap counts the pixels decoded: 1/2 to 1/8 here
            if img.width * img.height > MAX_IMAGE_PIXELS:
                raise _too_large(width, height)
            img.load()
            if draft_size:
                img = _shrink(img, draft_size)
            img = ImageOps.exif_transpose(img)
            return to_rgb(img)
    except ImageError:
        raise
    except MemoryError as err:
        raise ImageError("the image is too large to decode on this server; make it smaller") from err
    except Image.DecompressionBombError as err:
        raise _too_large(width, height) from err
    except Exception as err:  # a truncated or corrupt file fails inside the decoder with any of several types
        raise ImageError(f"the image is corrupt or truncated ({type(err).__name__}: {str(err)[:120]})") from err


def _shrink(img: Image.Image, draft_size: int) -> Image.Image:
    """Integer box-filter reduction of a large decoded image so its shorter side stays >= ``draft_size``.

    Only above SHRINK_ABOVE_PIXELS: smaller images (every training set we use) decode exactly as before, and the
    caller's antialiased resize does the rest. Palette and 1-bit images are converted first (reduce needs
    levels, not indices)."""
    factor = min(img.size) // draft_size
    if factor < 2 or img.width * img.height <= SHRINK_ABOVE_PIXELS:
        return img
    exif = img.getexif()  # reduce() drops it; the orientation must survive
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    elif img.mode in ("1", "I;16", "I;16B", "I;16L", "I;16N"):
        img = img.convert("L" if img.mode == "1" else "I")
    if img.mode in ("RGBA", "LA"):
        # Image.reduce premultiplies alpha in a second full-size copy (150 MB at the cap); reducing colour and
        # alpha each on their own differs only at half-transparent edges, which become white-backed anyway.
        small = img._new(img.im.reduce((factor, factor), (0, 0) + img.size))
    else:
        small = img.reduce(factor)
    small.info["exif"] = exif.tobytes()
    return small


def _array_to_image(arr: np.ndarray) -> Image.Image:
    if arr.dtype.kind not in "biuf":
        raise ImageError(f"expected an array of numbers for an image, got dtype {arr.dtype}")
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (3, 4)) or min(arr.shape[:2]) < 1:
        raise ImageError(f"expected an image array (H, W), (H, W, 3) or (H, W, 4), got shape {arr.shape}")
    if arr.shape[0] * arr.shape[1] > MAX_IMAGE_PIXELS:
        raise _too_large(arr.shape[1], arr.shape[0])
    if arr.dtype != np.uint8:
        arr = np.nan_to_num(arr.astype(np.float64), nan=0.0, posinf=255.0, neginf=0.0)
        top = 65535.0 if arr.max(initial=0) > 255 else (1.0 if arr.max(initial=0) <= 1.0 else 255.0)
        arr = np.clip(arr * (255.0 / top), 0, 255).astype(np.uint8)
    return to_rgb(Image.fromarray(arr))


def square_resize(img: Image.Image, size: int) -> np.ndarray:
    """Centre square crop, then an antialiased resize to ``size`` x ``size``. Returns (size, size, 3) uint8."""
    w, h = img.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    img = img.crop((left, top, left + side, top + side))
    if side != size:
        img = img.resize((size, size), Image.Resampling.BICUBIC, reducing_gap=3.0)
    return np.array(img, dtype=np.uint8)  # a writable copy (torch.from_numpy warns on read-only arrays)


# ---------------------------------------------------------------------------------------------------------------
# Image folders and archives


def _list_dirs(path: Path) -> list[Path]:
    return sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith((".", "__")))


def _list_images(path: Path) -> list[Path]:
    return sorted(p for p in path.iterdir()
                  if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."))


def find_dataset_root(path: Path) -> Path:
    """The folder that holds ``train/`` (or the class folders), descending through one wrapping folder."""
    for _ in range(3):
        if any((path / s).is_dir() for s in SPLITS):
            return path
        dirs = _list_dirs(path)
        if len(dirs) == 1 and not _list_images(path) and _list_dirs(dirs[0]):
            path = dirs[0]
            continue
        return path
    return path


def folder_fingerprint(root: Path) -> str:
    """A short hash of every file's relative path, size and modification time below ``root`` (no decoding)."""
    digest = hashlib.sha1()
    for p in sorted(root.rglob("*")):
        if p.is_file():
            st = p.stat()
            digest.update(f"{p.relative_to(root)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def file_sha256(path: str | Path) -> str:
    """sha256 of a file's bytes, remembered per path, size and modification time (each version hashed once)."""
    st = Path(path).stat()
    return _sha256_memo(str(Path(path).resolve()), st.st_size, st.st_mtime_ns)


@functools.lru_cache(maxsize=256)
def _sha256_memo(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _decode_folder(split_dir: Path, input_size: int | None) -> tuple[np.ndarray, np.ndarray, list[str], int, list[str]]:
    class_dirs = _list_dirs(split_dir)
    if not class_dirs:
        raise DataError(f"{split_dir.name} has no class folders; expected {split_dir.name}/<class name>/<images>")
    classes = [d.name for d in class_dirs]
    files = [(f, c) for c, d in enumerate(class_dirs) for f in _list_images(d)]
    if not files:
        raise DataError(f"no image files (.jpg, .png, ...) under {split_dir.name}")
    if input_size is None:  # the most common size (as a square side) when sizes are mixed, read from the headers
        sides = Counter(side for side in map(_header_side, (f for f, _ in files)) if side)
        if not sides:
            raise DataError(f"none of the {len(files)} image files under {split_dir.name} could be read")
        input_size = sides.most_common(1)[0][0]
        if input_size > INPUT_SIZES[1]:  # refused before decoding hundreds of full-size photos
            raise DataError(f"the images are {input_size} pixels across; a model takes at most {INPUT_SIZES[1]}: "
                            "choose an input size (for example --input-size 64)")
    # Each image is resized as soon as it is decoded, so memory holds one full-size image at a time.
    decoded, labels, skipped, kept = [], [], 0, []
    for path, label in files:
        try:
            decoded.append(square_resize(open_image(path, draft_size=input_size), input_size))
        except ImageError:
            skipped += 1
            continue
        labels.append(label)
        kept.append(str(path.relative_to(split_dir)))
    if not decoded:
        raise DataError(f"none of the {len(files)} image files under {split_dir.name} could be read")
    images = np.stack(decoded).transpose(0, 3, 1, 2)
    return np.ascontiguousarray(images), np.asarray(labels, dtype=np.int64), classes, skipped, kept


def _header_side(path: Path) -> int | None:
    """The shorter side of an image file from its header (nothing decoded), None when unreadable or too large."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                w, h = img.size
    except Exception:  # noqa: BLE001 (skipped here, counted when decoding)
        return None
    return min(w, h) if w * h <= MAX_IMAGE_PIXELS else None


# ---------------------------------------------------------------------------------------------------------------
# CIFAR-10 / CIFAR-100 by name (torchvision's on-disk format; downloaded when online)

_CIFAR = {
    "cifar10": dict(folder="cifar-10-batches-py", train=[f"data_batch_{i}" for i in range(1, 6)], test=["test_batch"],
                    meta="batches.meta", names="label_names", labels="labels", tv="CIFAR10"),
    "cifar100": dict(folder="cifar-100-python", train=["train"], test=["test"], meta="meta",
                     names="fine_label_names", labels="fine_labels", tv="CIFAR100"),
}


CIFAR_NAMES = ("cifar10", "cifar100", "cifar100-coarse")


def cifar_root() -> Path:
    return Path(os.environ.get("WTCS_CIFAR_ROOT", cache_dir() / "torchvision"))


class _CifarUnpickler(pickle.Unpickler):
    """Unpickles only what a CIFAR batch holds: dicts, lists, bytes, str, numbers and numpy arrays. A plain
    pickle.load runs whatever a file names (a crafted file in the data folder would run code); here any other
    global is refused."""

    ALLOWED = {  # (module, name) that numpy's array pickles use, across numpy versions and protocols
        ("numpy", "ndarray"), ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
        ("_codecs", "encode"),  # protocol 2 writes Python 3 bytes as _codecs.encode(text, "latin1")
    }

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a CIFAR batch")
        return super().find_class(module, name)


def _unpickle(path: Path) -> dict:
    """A CIFAR batch file (a pickled dict) with bytes keys decoded. Raises DataError for anything else."""
    try:
        with open(path, "rb") as f:
            data = _CifarUnpickler(f, encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, ImportError, IndexError) as err:
        raise DataError(f"{path.name} is not a CIFAR batch file ({err}); delete the folder {path.parent.name} "
                        "to download it again") from err
    if not isinstance(data, dict):
        raise DataError(f"{path.name} is not a CIFAR batch file (it holds a {type(data).__name__}, not a dict)")
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in data.items()}


def _decode_names(names: list) -> list[str]:
    return [n.decode() if isinstance(n, bytes) else str(n) for n in names]


def _load_cifar(name: str, split: str) -> ImageSet:
    base = name.removesuffix("-coarse")
    spec, root = _CIFAR[base], cifar_root()
    folder = root / spec["folder"]
    if not folder.is_dir():
        try:
            import torchvision.datasets as tvd

            getattr(tvd, spec["tv"])(str(root), train=True, download=True)
        except Exception as err:  # no internet, proxy, disk full: all end the same way for the user
            raise DataError(
                f"{base} is not on this machine ({folder}) and could not be downloaded ({err}). "
                f"Connect to the internet once, or put the python version of {base} in {root}."
            ) from err
    if split not in ("train", "test"):
        raise DataError(f"{base} has splits 'train' and 'test'; a validation split is carved from 'train'")
    try:
        batches = [_unpickle(folder / f) for f in spec[split]]
        data = np.concatenate([b["data"] for b in batches]).reshape(-1, 3, 32, 32)
        meta = _unpickle(folder / spec["meta"])
        if name == "cifar100-coarse":
            labels = np.concatenate([b["coarse_labels"] for b in batches])
            classes, groups = _decode_names(meta["coarse_label_names"]), {}
        else:
            labels = np.concatenate([b[spec["labels"]] for b in batches])
            classes = _decode_names(meta[spec["names"]])
            groups = KNOWN_GROUPS.get(base, {})
            if base == "cifar100":  # the 20 superclasses, read from the raw pickle (torchvision gives only fine labels)
                coarse_names = _decode_names(meta["coarse_label_names"])
                coarse = np.concatenate([b["coarse_labels"] for b in batches])
                groups = {}
                for fine, c in sorted(set(zip(labels.tolist(), coarse.tolist(), strict=True))):
                    groups.setdefault(coarse_names[c], []).append(classes[fine])
    except (KeyError, ValueError, TypeError, IndexError) as err:  # a batch without its fields, or of another shape
        raise DataError(f"the {base} files in {folder.name} are damaged ({type(err).__name__}: {err}); delete that "
                        "folder to download them again") from err
    fp = hashlib.sha1(f"{name}:{split}:{len(labels)}".encode() + data[:16].tobytes()).hexdigest()[:16]
    return ImageSet(torch.from_numpy(np.ascontiguousarray(data)), torch.as_tensor(labels, dtype=torch.int64),
                    classes, name, fp, groups)


# ---------------------------------------------------------------------------------------------------------------
# The one entry point


def resolve_source(source: str | Path) -> str | Path:
    """A dataset name, or a path; a bare archive name is looked up in DATA_DIR (``everyday50`` finds
    ``everyday50-train-jpg.tar.gz``)."""
    text = str(source)
    if text in CIFAR_NAMES:
        return text
    shown = text if len(text) <= 120 else text[:120] + "..."
    try:
        path = Path(text).expanduser()
        if path.exists():
            return path
    except (OSError, RuntimeError) as err:  # a name too long, "~nobody"
        raise DataError(f"no dataset at {shown!r} ({getattr(err, 'strerror', None) or err})") from err
    for candidate in sorted(DATA_DIR.glob(f"{text}*")) if DATA_DIR.is_dir() and text and "/" not in text else []:
        if candidate.is_dir() or is_archive(candidate):
            return candidate
    raise DataError(f"no dataset at {shown!r}: give a folder, a .zip/.tar.gz archive, or cifar10 / cifar100")


def dataset_splits(source: str | Path) -> list[str]:
    """Which of train / val / test the source holds (a flat folder counts as train)."""
    source = resolve_source(source)
    if isinstance(source, str):
        return ["train", "test"]
    root = find_dataset_root(_unpacked(source)) if is_archive(source) else find_dataset_root(source)
    found = [s for s in SPLITS if (root / s).is_dir()]
    return found or ["train"]


def _unpacked(archive: Path) -> Path:
    """The archive unpacked (safely) into the cache, once per archive content; the least recently used
    unpacked archives are removed when the folder grows past MAX_UNPACKED_BYTES."""
    target = cache_dir() / "unpacked" / file_sha256(archive)[:16]
    if (target / ".complete").exists():
        (target / ".complete").touch()  # recently used: evicted last
        return target
    shutil.rmtree(target, ignore_errors=True)
    safe_extract(archive, target)
    (target / ".complete").touch()
    evict_least_recent(target.parent, MAX_UNPACKED_BYTES, keep=target)
    return target


def _size_on_disk(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def _last_used(path: Path) -> float:
    stamp = path / ".complete" if path.is_dir() else path
    try:
        return stamp.stat().st_mtime
    except OSError:
        return 0.0  # an unfinished entry: first to go


def evict_least_recent(folder: Path, max_bytes: int, keep: Path | None = None) -> list[Path]:
    """Remove the entries (files or folders) of ``folder`` used longest ago until it holds at most ``max_bytes``;
    ``keep`` is never removed. Returns the removed entries. Several processes may do this at once."""
    try:
        entries = [p for p in folder.iterdir() if p != keep]
    except OSError:
        return []
    sizes = {p: _size_on_disk(p) for p in entries}
    total = sum(sizes.values()) + (_size_on_disk(keep) if keep is not None and keep.exists() else 0)
    removed = []
    for p in sorted(entries, key=_last_used):
        if total <= max_bytes:
            break
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)
        total -= sizes[p]
        removed.append(p)
    return removed


def load_images(
    source: str | Path, split: str = "train", input_size: int | None = None,
    merge: dict[str, list[str]] | None = None, use_cache: bool = True,
) -> ImageSet:
    """Load one split of a dataset as an ImageSet (decoded once, then served from the disk cache).

    source: ``cifar10``, ``cifar100``, ``cifar100-coarse``, a folder, or an archive path.
    split: ``train``, ``val`` or ``test`` as stored in the source (see ``load_train_val`` for a carved split).
    input_size: side in pixels; None keeps the images' own (most common) size.
    merge: new class name -> classes it replaces, e.g. ``{"vehicle": ["automobile", "truck"]}``.
    Raises DataError when the source, split or layout is wrong.
    """
    source = resolve_source(source)
    if isinstance(source, str):
        ds = _cached(f"{source}:{split}", lambda: _load_cifar(source, split), use_cache)
    else:
        path = Path(source)
        if path.is_file() and not is_archive(path):
            raise DataError(f"{path.name} is neither a folder nor a .zip/.tar.gz/.tgz/.tar archive")
        fingerprint = file_sha256(path)[:16] if path.is_file() else None

        def decode() -> ImageSet:
            top = _unpacked(path) if path.is_file() else path
            root = find_dataset_root(top)
            split_dir = root / split
            if not split_dir.is_dir():
                if split == "train" and not any((root / s).is_dir() for s in SPLITS):
                    split_dir = root  # flat layout: root/<class>/...
                else:
                    raise DataError(f"{path.name} has no {split!r} split (found: {', '.join(dataset_splits(path))})")
            images, labels, classes, skipped, files = _decode_folder(split_dir, input_size)
            name = root.name if root != top or path.is_dir() else path.name.split(".")[0]
            name = name.removesuffix("-train-jpg")
            return ImageSet(torch.from_numpy(images), torch.from_numpy(labels), classes, name,
                            fingerprint or folder_fingerprint(split_dir), _known_groups(name, classes), skipped,
                            files, str(split_dir))

        key = f"{fingerprint or folder_fingerprint(path)}:{path.resolve()}:{split}:{input_size}"
        ds = _cached(key, decode, use_cache)
    if input_size is not None and ds.input_size != input_size:
        ds = replace(ds, images=resize_images(ds.images, input_size))
    if len(set(ds.labels.tolist())) < 2:
        raise DataError(f"{ds.name} ({split}) has fewer than two classes with images; a classifier needs at least two")
    return merge_classes(ds, merge) if merge else ds


def _known_groups(name: str, classes: list[str]) -> dict[str, list[str]]:
    groups = KNOWN_GROUPS.get(name, {})
    kept = {g: [c for c in members if c in classes] for g, members in groups.items()}
    kept = {g: m for g, m in kept.items() if m}
    covered = {c for m in kept.values() for c in m}
    return kept if covered == set(classes) else {}


def _cached(key: str, build, use_cache: bool) -> ImageSet:
    path = cache_dir() / "images" / (hashlib.sha1(f"v{LOADER_VERSION}:{key}".encode()).hexdigest()[:20] + ".safetensors")
    if use_cache and path.exists():
        try:
            tensors = load_file(str(path))
            os.utime(path)  # recently used: evicted last
            meta = json.loads(tensors.pop("meta").numpy().tobytes().decode())
            return ImageSet(tensors["images"], tensors["labels"], **meta)
        except Exception:  # a damaged cache is rebuilt, never fatal
            path.unlink(missing_ok=True)
    ds = build()
    if use_cache:
        meta = dict(classes=ds.classes, name=ds.name, fingerprint=ds.fingerprint, groups=ds.groups, skipped=ds.skipped,
                    files=ds.files, split_dir=ds.split_dir)
        blob = torch.frombuffer(bytearray(json.dumps(meta).encode()), dtype=torch.uint8)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        save_file({"images": ds.images.contiguous(), "labels": ds.labels.contiguous(), "meta": blob}, str(tmp))
        os.replace(tmp, path)
        evict_least_recent(path.parent, MAX_IMAGE_CACHE_BYTES, keep=path)
    return ds


def resize_images(images: torch.Tensor, size: int) -> torch.Tensor:
    """(N, 3, H, W) uint8 -> (N, 3, size, size) uint8, antialiased."""
    out = torch.nn.functional.interpolate(images.float(), size=(size, size), mode="bilinear", antialias=True)
    return out.round().clamp(0, 255).to(torch.uint8)


# ---------------------------------------------------------------------------------------------------------------
# Splits, merges, statistics


def stratified_split(labels: torch.Tensor, val_fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Split indices so every class keeps the same share in validation. Returns (train_idx, val_idx), sorted.

    A class with at least two images always keeps one on each side.
    """
    if not 0 < val_fraction < 1:
        raise DataError(f"the validation fraction must be between 0 and 1, got {val_fraction}")
    gen = torch.Generator().manual_seed(seed)
    train_parts, val_parts = [], []
    for c in torch.unique(labels).tolist():
        idx = torch.nonzero(labels == c).flatten()
        idx = idx[torch.randperm(len(idx), generator=gen)]
        n_val = int(round(len(idx) * val_fraction))
        if len(idx) >= 2:
            n_val = min(max(n_val, 1), len(idx) - 1)
        val_parts.append(idx[:n_val])
        train_parts.append(idx[n_val:])
    return torch.cat(train_parts).sort().values, torch.cat(val_parts).sort().values


def load_train_val(
    source: str | Path, val_fraction: float = 0.1, seed: int = 0, input_size: int | None = None,
    merge: dict[str, list[str]] | None = None,
) -> tuple[ImageSet, ImageSet]:
    """Training and validation sets: the source's own ``val/`` when it has one, else a stratified
    ``val_fraction`` of ``train`` chosen with ``seed`` (the same seed always gives the same split)."""
    train = load_images(source, "train", input_size, merge)
    if "val" in dataset_splits(source):
        val = load_images(source, "val", train.input_size, merge)
        return train, align_classes(val, train.classes)
    train_idx, val_idx = stratified_split(train.labels, val_fraction, seed)
    return train.subset(train_idx), train.subset(val_idx)


def load_split(
    source: str | Path, split: str, val_fraction: float = 0.1, seed: int = 0, input_size: int | None = None,
    merge: dict[str, list[str]] | None = None,
) -> ImageSet:
    """One split for evaluation: ``test`` and an explicit ``val`` come from the source; otherwise ``val``
    and ``train`` are the two sides of ``load_train_val`` with the same fraction and seed."""
    if split not in SPLITS:
        raise DataError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    if split == "test" or (split == "val" and "val" in dataset_splits(source)):
        return load_images(source, split, input_size, merge)
    train, val = load_train_val(source, val_fraction, seed, input_size, merge)
    return val if split == "val" else train


def align_classes(ds: ImageSet, classes: list[str]) -> ImageSet:
    """Relabel ``ds`` to the index order of ``classes`` (matched by name).

    Raises DataError naming the folders that are not among ``classes``.
    """
    unknown = [c for c in ds.classes if c not in classes]
    if unknown:
        raise DataError(
            f"class folders {', '.join(unknown)} are not classes of this model "
            f"(it knows: {', '.join(classes[:12])}{' ...' if len(classes) > 12 else ''})"
        )
    mapping = torch.tensor([classes.index(c) for c in ds.classes], dtype=torch.int64)
    return replace(ds, labels=mapping[ds.labels], classes=list(classes))


def merge_classes(ds: ImageSet, merge: dict[str, list[str]]) -> ImageSet:
    """Merge look-alike classes into one, as the project log did: ``{"new name": ["a", "b"]}``.

    The merged class takes the place of its first member; groups follow that member.
    """
    owner: dict[str, str] = {}
    for new, members in merge.items():
        for m in members:
            if m not in ds.classes:
                raise DataError(f"cannot merge {m!r}: not a class of {ds.name}")
            owner[m] = new
    classes: list[str] = []
    for c in ds.classes:
        name = owner.get(c, c)
        if name not in classes:
            classes.append(name)
    mapping = torch.tensor([classes.index(owner.get(c, c)) for c in ds.classes], dtype=torch.int64)
    groups: dict[str, list[str]] = {}
    for g, members in ds.groups.items():
        for c in members:
            name = owner.get(c, c)
            if not any(name in m for m in groups.values()):
                groups.setdefault(g, []).append(name)
    return replace(ds, labels=mapping[ds.labels], classes=classes, groups=groups)


def parse_merge(text: str) -> dict[str, list[str]]:
    """``"vehicle=automobile,truck;pets=cat,dog"`` -> ``{"vehicle": ["automobile", "truck"], ...}``."""
    merge = {}
    for part in filter(None, (p.strip() for p in text.split(";"))):
        if "=" not in part:
            raise DataError(f"cannot read merge {part!r}: write new_name=class_a,class_b")
        new, members = part.split("=", 1)
        merge[new.strip()] = [m.strip() for m in members.split(",") if m.strip()]
    return merge


def channel_stats(images: torch.Tensor) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of (N, 3, H, W) uint8 images, on the 0..1 scale."""
    sample = images[:: max(1, len(images) // 10000)].float().div_(255)
    return sample.mean(dim=(0, 2, 3)).tolist(), sample.std(dim=(0, 2, 3)).tolist()


# ---------------------------------------------------------------------------------------------------------------
# Evaluation samples shipped with a checkpoint


def per_class_sample(labels: torch.Tensor, per_class: int, seed: int = 0) -> torch.Tensor:
    """Up to ``per_class`` random indices of each class (sorted), the same for the same seed."""
    gen = torch.Generator().manual_seed(seed)
    picks = []
    for c in torch.unique(labels).tolist():
        idx = torch.nonzero(labels == c).flatten()
        picks.append(idx[torch.randperm(len(idx), generator=gen)[:per_class]])
    return torch.cat(picks).sort().values


def write_sample_zip(ds: ImageSet, path: str | Path, split: str = "val") -> Path:
    """Write ``ds`` as a zip image folder ``<split>/<class>/<file>`` that ``load_images(path, split)`` reads back.

    Images decoded from a folder are stored as their original files (so the pixels are identical and JPEGs
    stay small); others are stored as lossless PNG.
    """
    import zipfile

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as zf:
        for i, label in enumerate(ds.labels.tolist()):
            folder = f"{split}/{ds.classes[label]}"
            if ds.files and ds.split_dir and (Path(ds.split_dir) / ds.files[i]).is_file():
                zf.write(Path(ds.split_dir) / ds.files[i], f"{folder}/{Path(ds.files[i]).name}")
            else:
                buf = io.BytesIO()
                Image.fromarray(ds.images[i].permute(1, 2, 0).numpy()).save(buf, format="PNG")
                zf.writestr(f"{folder}/{i:05d}.png", buf.getvalue())
    os.replace(tmp, path)
    return path
