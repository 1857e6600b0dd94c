"""Hostile or broken input to the library: image bombs, crafted pickles, broken config.json, unbounded caches."""

import json
import os
import pickle
import shutil
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from core.checkpoint import build_config, load_checkpoint, save_checkpoint
from core.data import MAX_IMAGE_PIXELS, _unpickle, evict_least_recent, open_image
from core.errors import CheckpointError, DataError, ImageError
from core.models import create_model


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims ``width`` x ``height`` pixels but holds one compressed row: a decompression bomb's header."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grey
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * (width + 1))) \
        + chunk(b"IEND", b"")


@pytest.mark.parametrize("side", [30_000, 7_000])  # beyond Pillow's own limit, and just beyond ours
def test_image_bombs_are_refused_with_the_limit_before_decoding(tmp_path, side):
    assert side * side > MAX_IMAGE_PIXELS
    path = tmp_path / "bomb.png"
    path.write_bytes(png_header_only(side, side))
    for source in (path, str(path), path.read_bytes()):
        with pytest.raises(ImageError, match="40 megapixels"):
            open_image(source, draft_size=64)


@pytest.mark.parametrize("source, message", [
    (b"", "empty"), (b"GIF89a" + b"\0" * 10, "not an image"), (b"%PDF-1.4", "not an image"),
    ("/dev/zero", "not a regular file"), ("a" * 5000, "cannot read"), ("/no/such/photo.jpg", "no image file"),
    (np.zeros((4, 4), dtype=object), "array of numbers"),
])
def test_anything_that_is_not_an_image_gets_a_message_without_server_paths(source, message):
    with pytest.raises(ImageError, match=message) as err:
        open_image(source)
    assert "/no/such" not in str(err.value) and "/dev/" not in str(err.value)


def test_a_truncated_photo_says_so(tmp_path):
    path = tmp_path / "photo.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (200, 200, 3), np.uint8)).save(path)
    path.write_bytes(path.read_bytes()[:3000])
    with pytest.raises(ImageError, match="corrupt or truncated"):
        open_image(path)


def test_large_images_are_shrunk_while_decoding_and_keep_their_orientation(tmp_path):
    pixels = np.zeros((3000, 2000, 3), np.uint8)
    pixels[:300] = 255  # a white band at the top, which EXIF orientation 6 turns to the right side
    img = Image.fromarray(pixels)
    exif = img.getexif()
    exif[0x0112] = 6
    for suffix in ("jpg", "png"):
        path = tmp_path / f"tall.{suffix}"
        img.save(path, exif=exif.tobytes())
        small = np.asarray(open_image(path, draft_size=64))
        assert 64 <= min(small.shape[:2]) <= 250 and small.shape[1] > small.shape[0]
        assert small[:, -3:].mean() > 240 and small[:, :3].mean() < 15


def test_a_crafted_cifar_pickle_is_refused_instead_of_run(tmp_path):
    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'ran'}",))

    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps({b"data": Payload()}))
    with pytest.raises(DataError, match="not a CIFAR batch"):
        _unpickle(path)
    assert not (tmp_path / "ran").exists()


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_real_cifar_batches_still_unpickle(tmp_path, protocol):
    batch = {b"data": np.arange(12, dtype=np.uint8).reshape(2, 6), b"labels": [0, 1], b"batch_label": b"training"}
    (tmp_path / "b").write_bytes(pickle.dumps(batch, protocol=protocol))
    out = _unpickle(tmp_path / "b")
    assert out["labels"] == [0, 1] and out["data"].tolist() == batch[b"data"].tolist()


def _small_checkpoint(path):
    config = build_config("resnet", {"widths": [4, 8], "stem_width": 4}, ["a", "b", "c"], 32, [0.5] * 3, [0.25] * 3)
    save_checkpoint(path, create_model("resnet", 3, 32, widths=(4, 8), stem_width=4), config)
    return path


@pytest.mark.parametrize("field, value", [
    ("classes", 3), ("classes", ["a", "a", "b"]), ("classes", ["a", 7, "c"]), ("input_size", "32"),
    ("input_size", 100000), ("input_size", True), ("mean", []), ("mean", [0.5, "x", 0.5]), ("std", [0.25, 0, 0.25]),
    ("std", [0.25, -1, 0.25]), ("temperature", "warm"), ("temperature", 0), ("temperature", -2.0),
    ("groups", ["a"]), ("groups", {"g": "a"}), ("arch", 5), ("arch_kwargs", [1]), ("members", "all"),
])
def test_a_broken_config_json_names_the_field(tmp_path, field, value):
    path = _small_checkpoint(tmp_path / "m")
    config = json.loads((path / "config.json").read_text())
    config[field] = value
    (path / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match=f"'{field}' should be"):
        load_checkpoint(path)


def test_nan_and_infinity_in_config_json_are_refused(tmp_path):
    path = _small_checkpoint(tmp_path / "m")
    for field, value in [("temperature", "NaN"), ("std", "[0.25, Infinity, 0.25]"), ("mean", "[NaN, 0.5, 0.5]")]:
        text = (path / "config.json").read_text()
        config = json.loads(text)
        config[field] = "@@"
        (path / "config.json").write_text(json.dumps(config).replace('"@@"', value))
        with pytest.raises(CheckpointError, match=f"'{field}' should be"):
            load_checkpoint(path)
        (path / "config.json").write_text(text)


def test_absurd_architecture_options_are_refused_before_allocating(tmp_path):
    path = _small_checkpoint(tmp_path / "m")
    config = json.loads((path / "config.json").read_text())
    config["arch_kwargs"]["widths"] = [100000, 100000]
    (path / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="parameters"):
        load_checkpoint(path)


def test_the_cache_evicts_the_least_recently_used_entries(tmp_path):
    for i, name in enumerate(["old", "middle", "new"]):
        entry = tmp_path / name
        entry.mkdir()
        (entry / "blob").write_bytes(b"x" * 1000)
        (entry / ".complete").touch()
        os.utime(entry / ".complete", (1000 + i, 1000 + i))
    removed = evict_least_recent(tmp_path, 2500, keep=tmp_path / "old")
    assert [p.name for p in removed] == ["middle"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new", "old"]
    shutil.rmtree(tmp_path / "new")
