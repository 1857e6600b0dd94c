"""The tabs' callbacks as plain functions: no server, no browser."""

import shutil
import warnings

import gradio as gr
import numpy as np
import pytest
import torch
from PIL import Image

from core.checkpoint import CheckpointStore
from core.data import load_images, write_sample_zip
from core.evaluate import SAMPLE_NAME
from core.explain import feature_maps, stage_overview
from core.predict import preprocess
from demo import explore, inside, live, ui
from demo.common import AppContext
from tests.fixtures import shape_image


@pytest.fixture(scope="module")
def ctx(tiny_checkpoint):
    return AppContext(CheckpointStore(tiny_checkpoint.parent))


@pytest.fixture(scope="module")
def model(ctx):
    return ctx.default_model()


@pytest.fixture
def empty_ctx(tmp_path):
    return AppContext(CheckpointStore(tmp_path / "no-models"))


def square(size=240) -> np.ndarray:
    return np.asarray(shape_image("square", size, np.random.default_rng(3)))


@pytest.fixture(scope="module")
def awkward_files(tmp_path_factory):
    """Files a visitor might upload: the good, the odd and the broken."""
    d = tmp_path_factory.mktemp("uploads")
    rgb = Image.fromarray(square())
    rgb.save(d / "photo.png")
    rgb.convert("L").save(d / "grey.png")
    rgba = rgb.convert("RGBA")
    rgba.putalpha(128)
    rgba.save(d / "rgba.png")
    Image.fromarray(np.asarray(rgb.convert("L"), dtype=np.uint16) * 257).save(d / "sixteen.png")
    assert Image.open(d / "sixteen.png").mode.startswith("I")  # really 16 bits per pixel
    Image.new("L", (6000, 6000), 90).save(d / "huge.png")  # 36 megapixels, under the cap; a few hundred kB
    Image.new("L", (8000, 8000), 90).save(d / "bomb.png")  # 64 megapixels: over the cap
    data = (d / "photo.png").read_bytes()
    (d / "truncated.png").write_bytes(data[: len(data) // 3])
    (d / "notes.pdf").write_bytes(b"%PDF-1.4 not an image at all")
    return d


# ---------------------------------------------------------------------------------------------------------------
# Live camera


def test_live_frame_without_a_webcam_frame_asks_to_start_the_camera(ctx, model):
    r = live.live_frame(ctx, None, model, None)
    assert "Start the camera" in r.headline and r.top == {} and r.overlay is None


def test_live_frame_shows_top5_overlay_and_what_the_network_sees(ctx, model):
    r = live.live_frame(ctx, square(), model, None)
    assert len(r.top) == 4  # the shapes model has 4 classes, fewer than 5
    assert sum(r.top.values()) == pytest.approx(1.0, abs=1e-4)
    assert r.overlay.shape == (240, 240, 3) and r.overlay.dtype == np.uint8  # capped by the frame's own size
    assert r.seen.shape == (256, 256, 3)  # 32 px enlarged 8x with nearest neighbour
    assert (r.seen[:8, :8] == r.seen[0, 0]).all()
    best = max(r.top, key=r.top.get)
    assert best in r.headline or "not sure" in r.headline


def test_live_predictions_are_smoothed_over_frames_and_reset_on_model_change():
    a, b = np.array([0.9, 0.1], np.float32), np.array([0.1, 0.9], np.float32)
    s = live.smooth(None, "m1", a)
    s = live.smooth(s, "m1", b)
    assert s.probs.argmax() == 0  # one contrary frame does not flip the guess
    for _ in range(3):
        s = live.smooth(s, "m1", b)
    assert s.probs.argmax() == 1  # a few frames do
    assert np.allclose(live.smooth(s, "m2", a).probs, a)  # another model starts afresh


def test_live_says_not_sure_below_the_calibrated_threshold(ctx, model, monkeypatch):
    monkeypatch.setattr(live, "unsure_threshold", lambda ckpt: 1.01)
    assert "not sure" in live.live_frame(ctx, square(), model, None).headline


def test_live_frame_of_odd_arrays_never_raises(ctx, model):
    for frame in [np.zeros((10, 10), np.uint8), np.zeros((50, 60, 4), np.uint8), np.zeros((3, 3, 7), np.uint8),
                  np.full((40, 40, 3), 60000, np.uint16)]:
        r = live.live_frame(ctx, frame, model, None)
        assert r.headline  # either a guess or a message


def test_live_without_models_says_how_to_get_one(empty_ctx):
    r = live.live_frame(empty_ctx, square(), None, None)
    assert "No trained model found" in r.headline and r.overlay is None


# ---------------------------------------------------------------------------------------------------------------
# Upload & explore


def test_explore_gives_labels_and_a_heatmap_for_an_upload(ctx, model, awkward_files):
    top, heat, caption, top_b, heat_b, caption_b = explore.explore(ctx, str(awkward_files / "photo.png"), model)
    assert "square" in top and heat.shape == (240, 240, 3)
    assert "Grad-CAM" in caption and top_b is None and heat_b is None


@pytest.mark.parametrize("name", ["grey.png", "rgba.png", "sixteen.png", "huge.png"])
def test_explore_accepts_grey_rgba_16_bit_and_huge_photos(ctx, model, awkward_files, name):
    top, heat, caption, *_ = explore.explore(ctx, str(awkward_files / name), model)
    assert top and heat is not None and heat.shape[2] == 3, caption


@pytest.mark.parametrize("name,words", [("truncated.png", "corrupt"), ("notes.pdf", "not an image"),
                                        ("bomb.png", "megapixels")])
def test_explore_explains_a_broken_or_non_image_file(ctx, model, awkward_files, name, words):
    top, heat, caption, *_ = explore.explore(ctx, str(awkward_files / name), model)
    assert top is None and heat is None and words in caption and "Traceback" not in caption


def test_explore_without_an_image_asks_for_one(ctx, model):
    assert "Upload a photo" in explore.explore(ctx, None, model)[2]


def test_why_not_x_explains_the_chosen_class_with_any_method_and_layer(ctx, model, awkward_files):
    photo = str(awkward_files / "photo.png")
    _, heat, caption, *_ = explore.explore(ctx, photo, model, "layercam", "circle", "stage1", 0.8)
    assert "circle" in caption and "LayerCAM" in caption and "stage1" in caption
    _, heat_top, _, *_ = explore.explore(ctx, photo, model, "layercam", explore.TOP_GUESS, "stage1", 0.8)
    assert not np.array_equal(heat, heat_top)


def test_compare_shows_a_second_model_side_by_side(ctx, model, awkward_files):
    top, heat, caption, top_b, heat_b, caption_b = explore.explore(
        ctx, str(awkward_files / "photo.png"), model, "gradcam", "no-such-class", "no-such-layer", 0.5, model)
    assert top == top_b and heat_b.shape == heat.shape and caption_b


def test_model_options_list_classes_layers_and_eval_samples(ctx, model):
    targets, layers, samples = explore.model_options(ctx, model)
    assert [v for _, v in targets] == [explore.TOP_GUESS, "circle", "cross", "square", "triangle"]
    assert [v for _, v in layers][1:] == ["stem", "stage1", "stage2", "stage3"]
    assert samples == []  # the tiny checkpoint has no eval sample


def test_bundled_example_photos_are_small_and_licensed():
    photos = explore.example_photos()
    assert len(photos) >= 3
    licences = (explore.EXAMPLES_DIR / "LICENSES.md").read_text()
    for p in photos:
        img = Image.open(p)
        assert max(img.size) <= 512 and explore.Path(p).stat().st_size <= 200_000
        assert explore.Path(p).name in licences


def test_score_cam_warns_that_it_is_slow():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        explore.method_warning("scorecam")
        explore.method_warning("gradcam")
    assert len(caught) == 1 and "Score-CAM" in str(caught[0].message)


def test_score_cam_moves_a_progress_bar_and_says_how_long_is_left(ctx, tiny_checkpoint):
    calls = []
    photo = np.asarray(shape_image("circle", 32, np.random.default_rng(0)))
    top, heat, caption, *_ = explore.explore(ctx, photo, tiny_checkpoint.name, "scorecam",
                                             progress=lambda share, desc: calls.append((share, desc)))
    assert top and heat is not None and "Score-CAM" in caption
    assert calls and calls[-1][0] == 1.0 and all("s left" in desc for _, desc in calls)
    assert [share for share, _ in calls] == sorted(share for share, _ in calls)


# ---------------------------------------------------------------------------------------------------------------
# Inside the CNN


def test_stages_table_lists_every_stage_with_shape_and_parameters(ctx, model):
    rows = inside.stages_table(ctx, model)
    assert [r[0] for r in rows] == ["stem", "stage1", "stage2", "stage3", "pool", "head", "total"]
    assert rows[1][1] == "8 x 16 x 16"  # TINY_ARCH: stage1 has 8 channels at half resolution
    assert int(rows[-1][2].replace(",", "")) == sum(p.numel() for p in ctx.checkpoint(model).model.parameters())


def test_feature_maps_are_tiles_of_the_most_active_channels(ctx, model, awkward_files):
    tiles, channels, msg = inside.feature_map_tiles(ctx, str(awkward_files / "photo.png"), model, "stage2")
    assert msg == "" and len(tiles) == len(channels) == 16
    assert tiles[0][0].shape == (inside.TILE, inside.TILE, 3) and tiles[0][1].startswith(f"#{channels[0]} ")
    assert inside.feature_map_tiles(ctx, None, model, "stage1")[2].startswith("Pick a photo")
    assert "not an image" in inside.feature_map_tiles(ctx, str(awkward_files / "notes.pdf"), model, "stage1")[2]


def test_the_chosen_channel_is_always_among_the_feature_maps(ctx, model, awkward_files, monkeypatch):
    monkeypatch.setattr(inside, "FEATURE_MAPS", 4)  # fewer places than channels: the chosen one may not be on top
    photo = str(awkward_files / "photo.png")
    _, every, _ = inside.feature_map_tiles(ctx, photo, model, "stage2", None)
    assert len(every) == 4
    ckpt = ctx.checkpoint(model)
    order = [m.channel for m in feature_maps(ckpt, preprocess(photo, ckpt).tensor, "stage2", 99)]
    quiet = order[-1]  # the least active channel
    tiles, channels, _ = inside.feature_map_tiles(ctx, photo, model, "stage2", quiet)
    assert channels == order[:3] + [quiet] and tiles[-1][1].startswith(f"★ #{quiet} ")
    tiles, channels, _ = inside.feature_map_tiles(ctx, photo, model, "stage2", order[1])  # already shown: kept
    assert channels == order[:4] and tiles[1][1].startswith(f"★ #{order[1]} ")


def test_overview_shows_the_photo_through_every_stage(ctx, model, awkward_files):
    photo = str(awkward_files / "photo.png")
    picture, layout, msg = inside.overview(ctx, photo, model)
    ckpt = ctx.checkpoint(model)
    stages = stage_overview(ckpt, preprocess(photo, ckpt).tensor, inside.OVERVIEW_MAPS)
    assert msg == "" and picture.dtype == np.uint8 and picture.ndim == 3
    assert layout["stages"] == [None, "stem", "stage1", "stage2", "stage3"]  # the input, then every conv stage
    assert [s.shape for s in stages] == [(8, 32, 32), (8, 16, 16), (16, 8, 8), (16, 4, 4)]  # TINY_ARCH at 32 px
    assert layout["channels"][1:] == [[m.channel for m in s.maps] for s in stages]
    assert all(len(c) == inside.OVERVIEW_MAPS for c in layout["channels"][1:])
    grid = layout["grid"]
    step_x, step_y = grid["width"] / grid["cols"], grid["height"] / grid["rows"]
    for row, s in enumerate(stages, start=1):
        for col in (0, inside.OVERVIEW_MAPS - 1):
            x = grid["left"] + col * step_x + inside.OVERVIEW_TILE / 2
            y = grid["top"] + row * step_y + inside.OVERVIEW_TILE / 2
            assert inside.overview_pick(layout, x, y) == (s.name, s.maps[col].channel)
            tile = picture[int(y) - 10:int(y) + 10, int(x) - 10:int(x) + 10]
            assert (tile != 255).any()  # a map is drawn where a click picks it
        name_x = 20  # the stage's name and shape, left of its maps
        assert inside.overview_pick(layout, name_x, grid["top"] + (row + 0.5) * step_y) == (s.name, None)
    assert inside.overview_pick(layout, grid["left"] + 5, grid["top"] + 5) is None  # the input row
    assert inside.overview_pick(layout, 5, 5) is None and inside.overview_pick({}, 5, 5) is None
    assert inside.overview(ctx, None, model)[0] is None
    assert "not an image" in inside.overview(ctx, str(awkward_files / "notes.pdf"), model)[2]


def test_first_layer_filters_are_shown_as_patches(ctx, model):
    tiles = inside.filter_tiles(ctx, model)
    assert len(tiles) == 8 and tiles[0][0].shape == (48, 48, 3)  # TINY_ARCH stem: 8 filters of 3x3


def test_top_nine_images_per_channel(ctx, model, tiny_checkpoint, shapes_dir, tmp_path):
    tiles, msg = inside.channel_images(ctx, model, "stage1", 0)
    assert tiles == [] and "no evaluation sample" in msg
    folder = tmp_path / "models" / "with-sample"
    shutil.copytree(tiny_checkpoint, folder)
    ds = load_images(shapes_dir, "train")
    write_sample_zip(ds.subset(torch.arange(0, len(ds), 3)), folder / SAMPLE_NAME)
    ctx2 = AppContext(CheckpointStore(folder.parent))
    tiles, msg = inside.channel_images(ctx2, str(folder), "stage2", 5)
    assert len(tiles) == 9 and "channel 5 of stage2" in msg
    assert inside.channel_images(ctx2, str(folder), "stage2", 999)[0] == []  # out of range: a message instead


# ---------------------------------------------------------------------------------------------------------------
# The whole app


def test_app_builds_with_no_models_and_says_so(tmp_path):
    app = ui.build_app(tmp_path / "none", allow_training=False, runs_dir=tmp_path / "runs")
    texts = [getattr(b, "value", "") for b in app.blocks.values()]
    assert any(isinstance(t, str) and "No trained model found" in t for t in texts)


def test_app_wires_every_tab(tiny_checkpoint, tmp_path):
    app = ui.build_app(tiny_checkpoint.parent, allow_training=False, runs_dir=tmp_path / "runs")
    ids = {getattr(b, "elem_id", None) for b in app.blocks.values()}
    assert {"live-camera", "live-freeze", "explore-image", "explore-heatmap", "inside-stages", "inside-maps"} <= ids


def test_freeze_without_a_frame_warns_instead_of_clearing_explore():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = ui._freeze(None)
    assert out == (gr.skip(), gr.skip())  # the Explore tab keeps its photo
    assert "Start the camera" in str(caught[0].message)
    frame = square(64)
    sent, tabs = ui._freeze(frame)
    assert sent is frame


def test_tabs_work_for_a_64_px_model_with_many_classes_and_groups(tmp_path):
    from core.checkpoint import build_config, save_checkpoint
    from core.models import create_model

    classes = [f"thing{i}" for i in range(12)]
    groups = {"first half": classes[:6], "second half": classes[6:]}
    kwargs = {"widths": [8, 16], "stem_width": 8}
    model = create_model("resnet", len(classes), 64, widths=(8, 16), stem_width=8)
    save_checkpoint(tmp_path / "models" / "big", model,
                    build_config("resnet", kwargs, classes, 64, [0.5] * 3, [0.25] * 3, groups=groups))
    ctx = AppContext(CheckpointStore(tmp_path / "models"))
    r = live.live_frame(ctx, square(300), ctx.default_model(), None)
    assert len(r.top) == 5 and "half" in r.headline  # the group is shown with the guess
    assert r.seen.shape == (256, 256, 3)  # 64 px enlarged 4x
    top, heat, caption, *_ = explore.explore(ctx, square(300), ctx.default_model(), "eigencam", "thing11")
    assert len(top) == 5 and "thing11" in caption and heat.shape == (300, 300, 3)
    assert inside.stages_table(ctx, ctx.default_model())[0][1] == "8 x 32 x 32"  # stride-2 stem at 64 px
