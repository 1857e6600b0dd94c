import io

import numpy as np
import pytest
import torch
from PIL import Image

from core.checkpoint import load_checkpoint
from core.errors import ImageError
from core.predict import main, predict_topk, preprocess
from tests.fixtures import shape_image


@pytest.fixture(scope="module")
def ckpt(tiny_checkpoint):
    return load_checkpoint(tiny_checkpoint)


def test_predict_topk_recognises_a_fresh_shape(ckpt):
    rng = np.random.default_rng(123)
    hits = 0
    for kind in ckpt.classes:
        pred = predict_topk(ckpt, shape_image(kind, 32, rng), k=3)
        assert len(pred.top) == 3 and pred.top[0][1] >= pred.top[1][1]
        assert abs(sum(pred.probs) - 1) < 1e-4
        hits += pred.top[0][0] == kind
    assert hits >= 3


@pytest.mark.parametrize("make", [
    lambda: Image.new("L", (50, 80), 90),
    lambda: Image.new("RGBA", (64, 64), (0, 0, 255, 128)),
    lambda: Image.fromarray(np.full((40, 40), 40000, dtype=np.uint16)),
    lambda: np.zeros((30, 60, 3), dtype=np.uint8),
    lambda: np.zeros((30, 30, 4), dtype=np.uint8),
    lambda: np.zeros((30, 30), dtype=np.float32),
])
def test_any_image_mode_and_shape_becomes_the_model_input(ckpt, make):
    pre = preprocess(make(), ckpt)
    assert pre.pixels.shape == (32, 32, 3) and pre.pixels.dtype == np.uint8
    assert pre.tensor.shape == (1, 3, 32, 32) and pre.tensor.dtype == torch.float32


def test_centre_crop_keeps_the_middle_of_a_wide_photo(ckpt):
    img = np.zeros((100, 300, 3), dtype=np.uint8)
    img[:, 100:200] = 255  # only the centre square is white
    assert preprocess(img, ckpt).pixels.min() == 255


def test_huge_jpeg_decodes_quickly_at_reduced_scale(ckpt):
    buf = io.BytesIO()
    Image.new("RGB", (8000, 8000), (200, 30, 30)).save(buf, format="JPEG", quality=70)
    pre = preprocess(buf.getvalue(), ckpt)
    assert pre.pixels.shape == (32, 32, 3) and abs(int(pre.pixels[..., 0].mean()) - 200) < 10


def test_non_images_and_broken_arrays_get_clear_errors(ckpt):
    with pytest.raises(ImageError, match="not an image"):
        preprocess(b"PK\x03\x04 a zip file", ckpt)
    with pytest.raises(ImageError, match="expected an image array"):
        preprocess(np.zeros((5,)), ckpt)


def test_cli_prints_top5_and_reports_bad_files(tiny_checkpoint, tmp_path, capsys):
    good = tmp_path / "shape.png"
    shape_image("square", 32, np.random.default_rng(0)).save(good)
    bad = tmp_path / "notes.txt"
    bad.write_text("hello")
    assert main(["--checkpoint", str(tiny_checkpoint), str(good), str(bad)]) == 2
    out, err = capsys.readouterr()
    assert str(good) in out and out.count("%") >= 4
    assert "notes.txt: error" in err
