import shutil
import threading

import numpy as np
import pytest
import torch

from core import explain
from core.checkpoint import build_config, load_checkpoint, save_checkpoint
from core.data import load_images, write_sample_zip
from core.errors import ConfigError
from core.evaluate import SAMPLE_NAME
from core.models import create_model
from core.predict import predict_topk, preprocess, probabilities
from tests.fixtures import shape_image

FAST_METHODS = [m for m in explain.CAM_METHODS if m not in explain.SLOW_METHODS]


@pytest.fixture(scope="module")
def ckpt(tiny_checkpoint):
    return load_checkpoint(tiny_checkpoint)


@pytest.fixture(scope="module")
def ckpt_with_sample(tiny_checkpoint, shapes_dir, tmp_path_factory):
    """A copy of the tiny checkpoint with an eval_sample.zip of 40 shapes (10 per class)."""
    folder = tmp_path_factory.mktemp("with-sample") / "shapes-resnet"
    shutil.copytree(tiny_checkpoint, folder)
    ds = load_images(shapes_dir, "train")
    keep = torch.cat([torch.nonzero(ds.labels == c).flatten()[:10] for c in range(len(ds.classes))])
    write_sample_zip(ds.subset(keep), folder / SAMPLE_NAME)
    return folder


def square_photo(corner: str, size: int = 32) -> np.ndarray:
    """A red-ish square of side size/2 in one corner of a noisy grey image: (size, size, 3) uint8."""
    rng = np.random.default_rng(1)
    img = rng.integers(60, 140, (size, size, 3), dtype=np.uint8)
    h = size // 2
    rows, cols = (slice(0, h), slice(0, h)) if corner == "top-left" else (slice(h, size), slice(h, size))
    img[rows, cols] = (40, 80, 230)  # the fixture's square colour
    return img


@pytest.mark.parametrize("method", FAST_METHODS)
def test_every_fast_method_gives_a_map_in_0_1_at_input_size(ckpt, method):
    tensor = preprocess(square_photo("top-left"), ckpt).tensor
    heat = explain.gradcam(ckpt, tensor, method=method)
    assert heat.shape == (32, 32) and heat.dtype == np.float32
    assert 0.0 <= heat.min() and heat.max() <= 1.0 and heat.max() > 0.5


def test_score_cam_matches_the_reference_and_reports_its_progress(ckpt):
    """With every channel scored, the lean Score-CAM is pytorch-grad-cam's ScoreCAM in bounded memory."""
    from pytorch_grad_cam import ScoreCAM

    tensor = preprocess(square_photo("top-left"), ckpt).tensor
    model = explain._replica(ckpt.model)[0]
    with ScoreCAM(model=model, target_layers=explain._layers(model, "stage2")) as cam:
        reference = cam(input_tensor=tensor, targets=None)[0]
    seen = []
    heat = explain.cam_and_logits(ckpt, tensor, None, "scorecam", "stage2",
                                  on_progress=lambda done, total: seen.append((done, total)))[0][0]
    channels = explain.stage_output(ckpt, tensor, "stage2").shape[1]
    assert channels <= explain.SCORECAM_CHANNELS
    np.testing.assert_allclose(heat, reference, atol=1e-4)
    assert seen[-1] == (channels, channels) and len(seen) == -(-channels // explain.SCORECAM_BATCH)


def test_score_cam_scores_only_the_most_varied_channels(ckpt, monkeypatch):
    monkeypatch.setattr(explain, "SCORECAM_CHANNELS", 5)
    seen = []
    tensor = preprocess(square_photo("top-left"), ckpt).tensor
    heat = explain.cam_and_logits(ckpt, tensor, None, "scorecam",
                                  on_progress=lambda done, total: seen.append((done, total)))[0][0]
    assert seen[-1] == (5, 5) and heat.max() > 0.5


def test_gradcam_highlights_the_object_region(ckpt):
    for corner, inside, outside in [("top-left", (slice(0, 16), slice(0, 16)), (slice(16, 32), slice(16, 32))),
                                    ("bottom-right", (slice(16, 32), slice(16, 32)), (slice(0, 16), slice(0, 16)))]:
        heat = explain.gradcam(ckpt, preprocess(square_photo(corner), ckpt).tensor, layer="stage2")
        assert heat[inside].mean() > heat[outside].mean(), corner


def test_a_different_target_class_gives_a_different_map(ckpt):
    tensor = preprocess(square_photo("top-left"), ckpt).tensor
    maps = [explain.gradcam(ckpt, tensor, target_class=c, layer="stage1") for c in range(len(ckpt.classes))]
    assert any(not np.allclose(maps[0], m, atol=1e-3) for m in maps[1:])


def test_cam_logits_are_the_models_own_prediction(ckpt):
    tensor = preprocess(square_photo("bottom-right"), ckpt).tensor
    _, logits = explain.cam_and_logits(ckpt, tensor)
    expected = probabilities(ckpt, tensor, calibrated=False)
    assert torch.allclose(torch.softmax(logits, 1), expected, atol=1e-5)


def test_explaining_a_photo_sees_and_predicts_what_predicting_it_does(ckpt):
    photo = shape_image("triangle", 200, np.random.default_rng(3))
    ex = explain.explain_photo(ckpt, photo, display_size=96)
    pred = predict_topk(ckpt, photo, k=len(ckpt.classes))
    assert np.array_equal(ex.pixels, pred.pixels) and ex.photo.shape == (96, 96, 3)
    assert np.allclose(ex.probs, pred.probs, atol=1e-5)


def test_batch_matches_single_images_and_mixed_targets(ckpt):
    photos = torch.cat([preprocess(square_photo(c), ckpt).tensor for c in ("top-left", "bottom-right")])
    batch = explain.gradcam_batch(ckpt, photos, [None, 2], batch_size=1)
    assert batch.shape == (2, 32, 32)
    np.testing.assert_allclose(batch[0], explain.gradcam(ckpt, photos[:1]), atol=1e-5)
    np.testing.assert_allclose(batch[1], explain.gradcam(ckpt, photos[1:], target_class=2), atol=1e-5)


def test_unknown_method_layer_or_class_is_a_config_error(ckpt):
    tensor = preprocess(square_photo("top-left"), ckpt).tensor
    with pytest.raises(ConfigError, match="unknown CAM method"):
        explain.gradcam(ckpt, tensor, method="magic")
    with pytest.raises(ConfigError, match="no layer"):
        explain.gradcam(ckpt, tensor, layer="stage9")
    with pytest.raises(ConfigError, match="out of range"):
        explain.gradcam(ckpt, tensor, target_class=len(ckpt.classes))


def test_concurrent_cams_match_sequential_ones_and_leave_no_hooks_on_the_served_model(ckpt):
    photos = [preprocess(shape_image(k, 32, np.random.default_rng(i)), ckpt).tensor
              for i, k in enumerate(["circle", "cross", "square", "triangle"] * 2)]
    expected = [explain.gradcam(ckpt, t) for t in photos]
    results: dict[int, np.ndarray] = {}

    def work(i):
        for _ in range(3):
            probabilities(ckpt, photos[i])  # the served model keeps predicting meanwhile
            results[i] = explain.gradcam(ckpt, photos[i])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(photos))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, heat in enumerate(expected):
        np.testing.assert_allclose(results[i], heat, atol=1e-5)
    assert not any(m._forward_hooks or m._backward_hooks for m in ckpt.model.modules())
    assert not ckpt.model.training


def test_overlay_blends_a_resized_heatmap_onto_the_photo():
    photo = np.full((90, 120, 3), 200, np.uint8)
    heat = np.zeros((8, 8), np.float32)
    heat[:, 4:] = 1.0
    assert (explain.overlay(photo, heat, alpha=0.0) == photo).all()
    full = explain.overlay(photo, heat, alpha=1.0)
    assert full.shape == (90, 120, 3) and full.dtype == np.uint8
    assert full[45, 10, 2] > 100 and full[45, 10, 0] < 50  # cold: blue
    assert full[45, 110, 0] > 100 and full[45, 110, 2] < 50  # hot: red


def test_pixelated_scales_up_by_an_integer_factor_with_nearest_neighbour():
    pixels = np.arange(4 * 4 * 3, dtype=np.uint8).reshape(4, 4, 3)
    big = explain.pixelated(pixels, 64)
    assert big.shape == (64, 64, 3)
    assert (big[:16, :16] == pixels[0, 0]).all() and (big[-16:, -16:] == pixels[3, 3]).all()


def test_feature_maps_are_the_most_active_channels_of_the_stage(ckpt):
    tensor = preprocess(square_photo("top-left"), ckpt).tensor
    maps = explain.feature_maps(ckpt, tensor, "stage1", top=5)
    out = explain.stage_output(ckpt, tensor, "stage1")[0]
    assert [m.channel for m in maps] == out.mean(dim=(1, 2)).argsort(descending=True)[:5].tolist()
    assert maps[0].values.shape == tuple(out.shape[1:])
    assert maps[0].mean >= maps[-1].mean
    with pytest.raises(ConfigError):
        explain.feature_maps(ckpt, tensor, "head")


def test_first_layer_filters_are_colour_patches(ckpt):
    patches = explain.first_layer_filters(ckpt)
    conv = ckpt.model.first_conv()
    assert patches.shape == (conv.out_channels, 3, 3, 3) and patches.dtype == np.uint8
    assert (patches.reshape(len(patches), -1).max(1) >= 254).any() or (patches.reshape(len(patches), -1).min(1) <= 1).any()


def test_top_images_per_channel_are_ranked_and_cached_on_disk(ckpt_with_sample, monkeypatch):
    ckpt = load_checkpoint(ckpt_with_sample)
    found = explain.top_images(ckpt, "stage1", 0)
    assert len(found) == explain.TOP_IMAGES
    assert [c.activation for c in found] == sorted((c.activation for c in found), reverse=True)
    assert found[0].pixels.shape == (32, 32, 3) and found[0].label in ckpt.classes
    cache = ckpt_with_sample / explain.CHANNEL_INDEX_FILE
    assert cache.is_file() and cache.stat().st_size < 1_000_000
    # A fresh process reads the file instead of recomputing.
    explain._memory_index.clear()
    monkeypatch.setattr(explain, "compute_channel_index", lambda *a, **k: pytest.fail("recomputed"))
    again = explain.top_images(ckpt, "stage1", 0)
    assert [c.activation for c in again] == pytest.approx([c.activation for c in found], abs=1e-3)
    with pytest.raises(ConfigError):
        explain.top_images(ckpt, "stage1", 10_000)


def test_channel_cache_is_rebuilt_when_the_weights_change(ckpt_with_sample, tmp_path):
    folder = tmp_path / "retrained"
    shutil.copytree(ckpt_with_sample, folder)
    ckpt = load_checkpoint(folder)
    old = explain.channel_index(ckpt).key
    with torch.no_grad():
        ckpt.model.first_conv().weight.mul_(-1)
    save_checkpoint(folder, ckpt.model, ckpt.config, ckpt.metrics)
    assert explain.channel_index(load_checkpoint(folder)).key != old


def test_no_eval_sample_means_no_top_images(ckpt):
    assert explain.top_images(ckpt, "stage1", 0) == [] and explain.eval_sample_files(ckpt) == []


def test_eval_sample_files_cover_every_class(ckpt_with_sample):
    files = explain.eval_sample_files(load_checkpoint(ckpt_with_sample), per_class=2)
    assert len(files) == 8 and {c for _, c in files} == {"circle", "cross", "square", "triangle"}
    assert [c for _, c in files[:4]] == ["circle", "cross", "square", "triangle"]  # round-robin over classes


AIRBENCH_STYLE = {"widths": [8, 16], "stem": "whiten", "shortcut": False, "dirac": True}


@pytest.mark.parametrize("arch,size,classes,kwargs", [
    ("resnet", 64, 3, {"widths": [8, 16], "stem_width": 8}), ("simplecnn", 32, 7, {"width": 8, "hidden": 16}),
    ("resnet", 32, 10, AIRBENCH_STYLE)])
def test_explain_works_for_any_input_size_and_class_count(tmp_path, arch, size, classes, kwargs):
    model = create_model(arch, classes, size, **{k: tuple(v) if isinstance(v, list) else v for k, v in kwargs.items()})
    config = build_config(arch, kwargs, [f"c{i}" for i in range(classes)], size, [0.5] * 3, [0.25] * 3)
    ckpt = load_checkpoint(save_checkpoint(tmp_path / "m", model, config))
    photo = np.random.default_rng(0).integers(0, 255, (300, 200, 3), dtype=np.uint8)
    ex = explain.explain_photo(ckpt, photo, display_size=160)
    assert ex.heatmap.shape == (size, size) and ex.pixels.shape == (size, size, 3)
    assert ex.photo.shape == (160, 160, 3) and ex.probs.shape == (classes,)
    assert ex.probs.sum() == pytest.approx(1.0, abs=1e-5)
    assert 1 / classes < explain.unsure_threshold(ckpt) < 1  # above chance: "not sure" can happen
    tensor = torch.rand(1, 3, size, size)
    for layer in ckpt.model.conv_stage_names():  # the whitening stem (31x31 output) included
        assert explain.feature_maps(ckpt, tensor, layer, top=4)
    filters = explain.first_layer_filters(ckpt)
    assert filters.dtype == np.uint8 and filters.shape[-1] == 3
