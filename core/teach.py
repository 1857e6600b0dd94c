"""Teach the network new classes: a few snapshots per class, then a new head on a frozen backbone.

The snapshots are kept on the server as an ordinary image folder, ``root/<class>/<n>.jpg`` (with
``classes.json`` keeping the order the visitor named them in), so the same folder is the training data, the
zip a visitor downloads, and what a delete removes.

    store = CaptureStore("runs/.captures")
    store.set_classes(["keys", "mug"])
    store.add("keys", frame)                       # any photo: numpy array, PIL image, path or bytes
    job_id = start_teach(jobs, store, "checkpoints/cifar10-resnet", "my-keys")
"""

from __future__ import annotations

import json
import re
import shutil
import threading
import time
import zipfile
from dataclasses import replace
from pathlib import Path

from core.config import TrainConfig
from core.data import SPLITS, open_image, square_resize
from core.errors import ConfigError, DataError
from core.jobs import PREVIOUS_PHASE, JobManager

# ---------------------------------------------------------------------------------------------------------------
# Setup: limits and the teaching recipe, in one place

MIN_CLASSES, MAX_CLASSES = 2, 5
MIN_PER_CLASS = 5  # fewer cannot give both a training and a validation image worth the name
MAX_PER_CLASS = 200  # a visitor clicking for a minute; more belongs in an uploaded dataset
SNAPSHOT_SIZE = 256  # stored side in pixels: centre square, larger than any model input we serve (224 at most)
SNAPSHOT_QUALITY = 92  # JPEG quality: webcam noise dwarfs the compression at this level

# Phase 1: only the new head learns, on the frozen backbone's features; the batch-norm statistics stay those
# of the big dataset (40 images would ruin them). With a mirror as the only augmentation the backbone runs once per
# snapshot and its mirror, and each step runs the head alone (core.train), so even MobileNetV2 at 224 px teaches in
# seconds. Adam, batches of 8, at a rate of 1e-2: on MobileNetV2's features 3e-2 overshoots (the most probable class is
# right less often with 5 new classes) and 3e-3 leaves the answers too unsure for the live headline (docs/results.md).
# No temperature is fitted on the few validation snapshots: it would sit at its floor and make every answer "100% sure".
# benchmarks/teach.py measures the recipe on camera-like frames.
TEACH_HEAD = dict(freeze_backbone=True, epochs=25, batch_size=8, optimizer="adam", lr=1e-2, wd=0.0,
                  schedule="onecycle", warmup=0.1, augment="flip", label_smoothing=0.1,
                  val_fraction=0.2, tta=0, calibrate=False, log_every=1, max_minutes=1.0)
# Optional phase 2: every layer, a few epochs at a small rate (it adapts the features to the visitor's camera). On the
# pretrained MobileNetV2 Adam at 1e-5 keeps what the head learned and makes the most probable class right more often;
# 1e-4 already leaves the answers less sure, and 5e-4 undoes the pretrained features (docs/results.md).
TEACH_FINETUNE = dict(freeze_backbone=False, epochs=6, batch_size=16, optimizer="adam", lr=1e-5, wd=5e-4,
                      schedule="cosine", warmup=0.1, augment="flip,translate", label_smoothing=0.1,
                      val_fraction=0.2, tta=0, calibrate=False, log_every=1, max_minutes=1.0)

# "None of these": a class of this name, taught from snapshots of the empty scene, is what the live view shows as
# "nothing I know" (a two-class model otherwise names one of its classes for everything it sees).
BACKGROUND_CLASS = "nothing"

_NAME = re.compile(r"^[^\W_][\w \-]{0,39}$")  # a letter or digit first; letters, digits, space, - and _ after


def parse_class_names(names: str | list[str]) -> list[str]:
    """``"keys, mug"`` or ``["keys", "mug"]`` -> ``["keys", "mug"]``, checked for use as folder names.

    Raises ConfigError unless there are 2-5 distinct names of letters, digits, spaces, - and _ (up to 40 characters).
    """
    if isinstance(names, str):
        names = names.replace("\n", ",").split(",")
    names = [" ".join(n.split()) for n in names if n and n.strip()]
    if not MIN_CLASSES <= len(names) <= MAX_CLASSES:
        raise ConfigError(f"name {MIN_CLASSES} to {MAX_CLASSES} classes, separated by commas (got {len(names)})")
    for n in names:
        if not _NAME.match(n):
            raise ConfigError(f"class name {n!r}: use letters, digits, spaces, - or _ (up to 40 characters)")
        if n.lower() in SPLITS:  # a class folder named train/val/test would read as a dataset split
            raise ConfigError(f"{n!r} is reserved (train, val and test name dataset splits); choose another name")
    if len({n.lower() for n in names}) != len(names):
        raise ConfigError("each class needs a different name")
    return names


class CaptureStore:
    """Snapshots per class in an image folder on the server. Thread-safe; shared by every browser."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self._lock = threading.Lock()

    # -- classes

    def classes(self) -> list[str]:
        """The named classes, in the order they were named (empty before ``set_classes``)."""
        try:
            names = json.loads((self.root / "classes.json").read_text())
        except (OSError, json.JSONDecodeError):
            return []
        return [n for n in names if isinstance(n, str)] if isinstance(names, list) else []

    def set_classes(self, names: str | list[str]) -> list[str]:
        """Name the classes. Snapshots of classes still named are kept; those of dropped classes are deleted.

        Raises ConfigError for bad names (see ``parse_class_names``).
        """
        names = parse_class_names(names)
        with self._lock:
            self.root.mkdir(parents=True, exist_ok=True)
            self._settle(names)
        return names

    def rename_classes(self, names: str | list[str]) -> list[str]:
        """Name the classes by position: the i-th class keeps its snapshots under the i-th new name (a renamed class
        keeps them), names past the current ones are new classes, and current classes past the new names are
        deleted. Raises ConfigError for bad names (see ``parse_class_names``)."""
        names = parse_class_names(names)
        with self._lock:
            old = self.classes()
            self.root.mkdir(parents=True, exist_ok=True)
            moving = [(self.root / o, self.root / n) for o, n in zip(old, names, strict=False) if o != n]
            for i, (src, _) in enumerate(moving):  # via temporary names, so "a, b" -> "b, a" swaps
                if src.is_dir():
                    src.replace(self.root / f".rename-{i}")
            for i, (_, dest) in enumerate(moving):
                if dest.is_dir():
                    shutil.rmtree(dest)
                if (self.root / f".rename-{i}").is_dir():
                    (self.root / f".rename-{i}").replace(dest)
            self._settle(names)
        return names

    def _settle(self, names: list[str]) -> None:
        """(Under the lock.) A folder for each of ``names``, none for any other class, and ``names`` as the order."""
        for d in self.root.iterdir():
            if d.is_dir() and d.name not in names:
                shutil.rmtree(d, ignore_errors=True)
        for n in names:
            (self.root / n).mkdir(exist_ok=True)
        tmp = self.root / "classes.json.tmp"
        tmp.write_text(json.dumps(names))
        tmp.replace(self.root / "classes.json")

    def files(self, name: str) -> list[Path]:
        """The snapshot files of class ``name``, oldest first (empty for an unknown class)."""
        return self._files(name) if name in self.classes() else []

    # -- snapshots

    def _class_dir(self, name: str) -> Path:
        if name not in self.classes():
            raise ConfigError(f"{name!r} is not one of the named classes ({', '.join(self.classes()) or 'none yet'})")
        return self.root / name

    def _files(self, name: str) -> list[Path]:
        d = self.root / name
        return sorted(p for p in d.glob("*.jpg") if p.is_file()) if d.is_dir() else []

    def add(self, name: str, image) -> int:
        """Store one snapshot of class ``name``; returns that class's new count.

        image: a numpy array (H, W, 3) uint8 from the webcam, a PIL image, a path or bytes. It is kept as a
        centre square of SNAPSHOT_SIZE pixels. Raises ConfigError for an unknown class or a full class,
        ImageError for something that is not an image.
        """
        d = self._class_dir(name)
        pixels = square_resize(open_image(image, draft_size=SNAPSHOT_SIZE * 2), SNAPSHOT_SIZE)
        from PIL import Image

        with self._lock:
            files = self._files(name)
            if len(files) >= MAX_PER_CLASS:
                raise ConfigError(f"{name} already has {MAX_PER_CLASS} snapshots, the most one class can hold")
            number = int(files[-1].stem) + 1 if files and files[-1].stem.isdigit() else len(files)
            tmp = d / f".{number:04d}.jpg.tmp"
            Image.fromarray(pixels).save(tmp, format="JPEG", quality=SNAPSHOT_QUALITY)
            tmp.replace(d / f"{number:04d}.jpg")
            return len(files) + 1

    def counts(self) -> dict[str, int]:
        """Snapshots per named class, in naming order."""
        return {n: len(self._files(n)) for n in self.classes()}

    def clear(self, name: str | None = None) -> None:
        """Delete the snapshots of one class, or of every class (the names are kept)."""
        with self._lock:
            for n in [name] if name else self.classes():
                for f in self._files(n):
                    f.unlink(missing_ok=True)

    def delete_all(self) -> None:
        """Delete every snapshot and the class names."""
        with self._lock:
            shutil.rmtree(self.root, ignore_errors=True)

    def check_ready(self) -> dict[str, int]:
        """The counts, or DataError saying which class needs more snapshots."""
        counts = self.counts()
        if len(counts) < MIN_CLASSES:
            raise DataError(f"name at least {MIN_CLASSES} classes first")
        short = [f"{n} ({c})" for n, c in counts.items() if c < MIN_PER_CLASS]
        if short:
            raise DataError(f"each class needs at least {MIN_PER_CLASS} snapshots; add more to: {', '.join(short)}")
        return counts

    def export_zip(self, dest: str | Path) -> Path:
        """Write the snapshots as an image-folder zip ``train/<class>/<n>.jpg`` (loadable by core.data and
        trainable with ``python -m core.train --data``). Raises DataError when there is nothing to export."""
        counts = self.counts()
        if not any(counts.values()):
            raise DataError("there are no snapshots to download yet")
        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.tmp")
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as zf:  # JPEGs do not compress further
            for n in counts:
                for f in self._files(n):
                    zf.write(f, f"train/{n}/{f.name}")
        tmp.replace(dest)
        return dest


# ---------------------------------------------------------------------------------------------------------------
# Training


def teach_phases(data_dir: str | Path, base: str | Path, finetune: bool = False, seed: int = 0) -> list[TrainConfig]:
    """The TrainConfigs of a teach job: a new head on ``base``'s frozen backbone, then (``finetune``) a short
    fine-tune of every layer starting from that head."""
    head = TrainConfig(data=str(data_dir), init_from=str(base), seed=seed, **TEACH_HEAD)
    if not finetune:
        return [head]
    return [head, replace(TrainConfig(data=str(data_dir), seed=seed, **TEACH_FINETUNE), init_from=PREVIOUS_PHASE)]


def start_teach(jobs: JobManager, store: CaptureStore, base: str | Path, name: str = "", finetune: bool = False) -> str:
    """Launch the teach job on the current snapshots (copied, so capturing may go on); returns the job id.

    The model is named ``name`` or after its classes (``keys-mug``). Raises DataError when a class has too few
    snapshots, JobError when a job is running, CheckpointError for a missing base.
    """
    counts = store.check_ready()
    name = name.strip() or "taught-" + "-".join(counts)
    return jobs.start(teach_phases(store.root, base, finetune), name, kind="teach", snapshot_data=True)


def export_name(prefix: str = "snapshots") -> str:
    """``snapshots-20250101-120000.zip``: a download name that says when it was made."""
    return f"{prefix}-{time.strftime('%Y%m%d-%H%M%S')}.zip"
