import pickle
import tarfile

import numpy as np
import pytest
import torch
from PIL import Image

import core.data as data
from core.data import (
    align_classes,
    load_images,
    load_split,
    load_train_val,
    merge_classes,
    open_image,
    parse_merge,
    stratified_split,
)
from core.errors import DataError, ImageError
from tests.fixtures import make_shapes_dataset


def test_image_folder_loads_as_uint8_tensors_with_class_names(shapes_dir):
    ds = load_images(shapes_dir)
    assert ds.images.dtype == torch.uint8 and ds.images.shape == (120, 3, 32, 32)
    assert ds.classes == ["circle", "cross", "square", "triangle"]
    assert torch.bincount(ds.labels).tolist() == [30, 30, 30, 30]


def test_second_load_comes_from_the_disk_cache(tmp_path, monkeypatch):
    root = make_shapes_dataset(tmp_path / "s", per_class=5)
    calls = []
    real = data._decode_folder
    monkeypatch.setattr(data, "_decode_folder", lambda *a: calls.append(1) or real(*a))
    first = load_images(root)
    second = load_images(root)
    assert len(calls) == 1
    assert torch.equal(first.images, second.images)
    (root / "train" / "circle" / "000.png").unlink()  # the source changed: the cache key changes
    assert len(load_images(root)) == 19 and len(calls) == 2


def test_flat_layout_and_wrapped_archive(tmp_path):
    flat = make_shapes_dataset(tmp_path / "flat", per_class=4, split=None)
    assert len(load_images(flat)) == 16
    wrapped = make_shapes_dataset(tmp_path / "wrap" / "mydata", per_class=4)
    archive = tmp_path / "mydata.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        tf.add(wrapped, arcname="mydata")
    ds = load_images(archive)
    assert len(ds) == 16 and ds.name == "mydata"


def test_odd_image_modes_become_rgb_and_corrupt_files_are_skipped(tmp_path):
    root = make_shapes_dataset(tmp_path / "m", per_class=3)
    d = root / "train" / "circle"
    Image.new("L", (32, 32), 128).save(d / "gray.png")
    Image.new("RGBA", (32, 32), (255, 0, 0, 0)).save(d / "rgba.png")
    Image.new("P", (32, 32), 3).save(d / "palette.png")
    Image.new("CMYK", (32, 32), (0, 255, 0, 0)).save(d / "cmyk.jpg")
    Image.fromarray(np.full((32, 32), 65535, dtype=np.uint16)).save(d / "sixteen.png")
    (d / "corrupt.png").write_bytes(b"\x89PNG not really")
    (d / "truncated.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"\0" * 20)
    ds = load_images(root)
    assert ds.skipped == 2
    assert len(ds) == 12 + 5
    files = dict(zip(ds.files, range(len(ds)), strict=True))
    assert ds.images[files["circle/rgba.png"]].float().mean() == 255  # transparent -> white
    assert ds.images[files["circle/sixteen.png"]].min() == 255  # 16-bit white stays white


def test_mixed_sizes_are_resized_to_one_input_size(tmp_path):
    root = make_shapes_dataset(tmp_path / "mixed", per_class=3, size=32)
    Image.new("RGB", (100, 60), (10, 20, 30)).save(root / "train" / "square" / "wide.png")
    ds = load_images(root)
    assert ds.images.shape[1:] == (3, 32, 32)
    assert load_images(root, input_size=16).images.shape[1:] == (3, 16, 16)


def test_stratified_split_is_balanced_and_repeatable():
    labels = torch.arange(10).repeat_interleave(50)
    tr, va = stratified_split(labels, 0.1, seed=3)
    assert len(set(tr.tolist()) & set(va.tolist())) == 0 and len(tr) + len(va) == 500
    assert torch.bincount(labels[va]).tolist() == [5] * 10
    assert torch.equal(va, stratified_split(labels, 0.1, seed=3)[1])
    assert not torch.equal(va, stratified_split(labels, 0.1, seed=4)[1])


def test_train_val_split_and_explicit_val_folder(tmp_path, shapes_dir):
    train, val = load_train_val(shapes_dir, 0.25, seed=0)
    assert len(train) == 88 and len(val) == 32  # round(30 * 0.25) = 8 of each class
    assert torch.equal(load_split(shapes_dir, "val", 0.25, 0).images, val.images)
    root = make_shapes_dataset(tmp_path / "tv", per_class=6)
    make_shapes_dataset(tmp_path / "tv", per_class=2, seed=9, split="val", classes=("square", "circle"))
    train, val = load_train_val(root)
    assert len(train) == 24 and len(val) == 4
    assert val.classes == train.classes  # the val folder is relabelled to the training class order
    assert {train.classes[i] for i in val.labels.tolist()} == {"square", "circle"}


def test_unknown_class_folder_is_reported_by_name(shapes_dir):
    ds = load_images(shapes_dir)
    with pytest.raises(DataError, match="triangle"):
        align_classes(ds, ["circle", "cross", "square"])


def test_merge_classes_and_groups(shapes_dir):
    ds = load_images(shapes_dir)
    ds.groups = {"round": ["circle"], "angular": ["cross", "square", "triangle"]}
    merged = merge_classes(ds, parse_merge("boxy=square,triangle"))
    assert merged.classes == ["circle", "cross", "boxy"]
    assert torch.bincount(merged.labels).tolist() == [30, 30, 60]
    assert merged.groups == {"round": ["circle"], "angular": ["cross", "boxy"]}
    with pytest.raises(DataError, match="hexagon"):
        merge_classes(ds, {"x": ["hexagon"]})


def test_bad_sources_get_clear_errors(tmp_path):
    with pytest.raises(DataError, match="no dataset"):
        load_images(tmp_path / "nowhere")
    one = make_shapes_dataset(tmp_path / "one", per_class=3, classes=("circle",))
    with pytest.raises(DataError, match="two classes"):
        load_images(one)
    (tmp_path / "notes.pdf").write_bytes(b"%PDF")
    with pytest.raises(DataError, match="neither a folder"):
        load_images(tmp_path / "notes.pdf")


def _write_cifar_fixture(root, fine=False):
    """A tiny dataset in torchvision's on-disk CIFAR format (python pickles)."""
    rng = np.random.default_rng(0)
    if not fine:
        folder = root / "cifar-10-batches-py"
        folder.mkdir(parents=True)
        names = [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog", b"horse", b"ship", b"truck"]
        for f in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
            batch = {b"data": rng.integers(0, 255, (20, 3072), dtype=np.uint8), b"labels": list(range(10)) * 2}
            (folder / f).write_bytes(pickle.dumps(batch))
        (folder / "batches.meta").write_bytes(pickle.dumps({b"label_names": names}))
        return
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    fine_labels = list(range(100)) * 2
    for f in ("train", "test"):
        batch = {b"data": rng.integers(0, 255, (200, 3072), dtype=np.uint8), b"fine_labels": fine_labels,
                 b"coarse_labels": [i // 5 for i in fine_labels]}
        (folder / f).write_bytes(pickle.dumps(batch))
    meta = {b"fine_label_names": [f"fine{i}".encode() for i in range(100)],
            b"coarse_label_names": [f"super{i}".encode() for i in range(20)]}
    (folder / "meta").write_bytes(pickle.dumps(meta))


def test_cifar10_by_name_from_the_on_disk_format(tmp_path, monkeypatch):
    monkeypatch.setenv("WTCS_CIFAR_ROOT", str(tmp_path))
    _write_cifar_fixture(tmp_path)
    train = load_images("cifar10", use_cache=False)
    assert train.images.shape == (100, 3, 32, 32) and train.classes[0] == "airplane"
    assert set(train.groups) == {"animals", "vehicles"}
    assert len(load_images("cifar10", "test", use_cache=False)) == 20


def test_cifar100_yields_fine_classes_with_superclass_groups_and_coarse_labels(tmp_path, monkeypatch):
    monkeypatch.setenv("WTCS_CIFAR_ROOT", str(tmp_path))
    _write_cifar_fixture(tmp_path, fine=True)
    fine = load_images("cifar100", use_cache=False)
    assert len(fine.classes) == 100 and len(fine.groups) == 20
    assert fine.groups["super0"] == ["fine0", "fine1", "fine2", "fine3", "fine4"]
    coarse = load_images("cifar100-coarse", use_cache=False)
    assert coarse.classes[:2] == ["super0", "super1"] and int(coarse.labels.max()) == 19


def test_cifar_without_files_or_internet_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("WTCS_CIFAR_ROOT", str(tmp_path))
    import torchvision.datasets as tvd

    def offline(*a, **k):
        raise OSError("no network")

    monkeypatch.setattr(tvd, "CIFAR10", offline)
    with pytest.raises(DataError, match="could not be downloaded"):
        load_images("cifar10", use_cache=False)


def test_open_image_rejects_non_images_and_fixes_orientation(tmp_path):
    with pytest.raises(ImageError, match="not an image"):
        open_image(b"%PDF-1.4 definitely not a picture")
    img = Image.new("RGB", (40, 20), (255, 0, 0))
    exif = img.getexif()
    exif[0x0112] = 6  # rotate 90 degrees on display
    path = tmp_path / "rotated.jpg"
    img.save(path, exif=exif)
    assert open_image(path).size == (20, 40)
