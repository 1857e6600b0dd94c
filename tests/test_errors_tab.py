"""The Error analysis tab's callbacks as plain functions, on the tiny fixture checkpoint."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from matplotlib.figure import Figure

import core.evaluate as ce
from core.checkpoint import CheckpointStore, load_checkpoint
from core.errors import CheckpointError, DataError
from demo import errors
from tests.fixtures import make_shapes_dataset
from tests.test_evaluate import sampled_checkpoint  # noqa: F401 (a fixture)


@pytest.fixture
def store(sampled_checkpoint) -> CheckpointStore:  # noqa: F811
    return CheckpointStore(sampled_checkpoint.parent)


def test_the_tab_opens_on_the_bundled_sample_and_says_which_set_and_how_many(store, sampled_checkpoint):  # noqa: F811
    out = errors.load_view(store, str(sampled_checkpoint), "", "auto", -1)
    assert "bundled evaluation sample" in out["status"] and "32 images" in out["status"]
    assert "Top-1" in out["headline"] and "top-5" in out["headline"] and "after temperature scaling" in out["headline"]
    for name in ("per_class", "confidence", "reliability", "curves"):
        assert isinstance(out[name], Figure), name
    assert out["confusion"].dtype == np.uint8 and out["confusion"].ndim == 3  # a picture, clickable in a gr.Image
    assert out["cells"]["names"] == out["classes"] and out["cells"]["rows"] == out["cells"]["cols"] == 4
    assert isinstance(out["pairs"], pd.DataFrame) and list(out["pairs"].columns) == errors.PAIR_COLUMNS
    assert out["classes"] == ["circle", "cross", "square", "triangle"]
    # second opening comes from the cache written by the first
    assert "opened from the cache" in errors.load_view(store, str(sampled_checkpoint), "", "auto", -1)["status"]


def test_showing_a_cell_gives_its_images_with_gradcam_and_both_probabilities(store, sampled_checkpoint):  # noqa: F811
    view = errors.make_view(str(sampled_checkpoint))
    ev = ce.cached_evaluation(load_checkpoint(sampled_checkpoint))
    conf = ce.confusion_matrix(ev.labels, ev.preds, len(ev.classes))
    off = conf.clone().fill_diagonal_(0)
    t, p = divmod(int(off.argmax()), len(ev.classes))
    true, pred = ev.classes[t], ev.classes[p]
    if off[t, p] == 0:  # a perfect model: show a diagonal cell instead
        true = pred = ev.classes[0]
        t = p = 0
    items, text, index = errors.show_cell(store, view, true, pred, limit=3)
    assert index == ce.cell_indices(ev, true, pred).tolist() and len(index) == conf[t, p]
    assert len(items) == min(3, len(index))
    tile, caption = items[0]
    assert tile.dtype == np.uint8 and tile.shape == (errors.TILE, 2 * errors.TILE, 3)
    assert not np.array_equal(tile[:, :errors.TILE], tile[:, errors.TILE:])  # the right half carries the heatmap
    assert true in caption and "%" in caption and f"**{len(index)}**" in text


def test_an_empty_cell_says_so(store, sampled_checkpoint):  # noqa: F811
    view = errors.make_view(str(sampled_checkpoint))
    ev = ce.cached_evaluation(load_checkpoint(sampled_checkpoint))
    conf = ce.confusion_matrix(ev.labels, ev.preds, len(ev.classes))
    empty = torch.nonzero(conf == 0)
    if len(empty) == 0:
        pytest.skip("every cell of this tiny model's confusion matrix has images")
    t, p = empty[0].tolist()
    items, text, index = errors.show_cell(store, view, ev.classes[t], ev.classes[p])
    assert items == [] and index == [] and "No image" in text


def test_random_error_draws_a_misclassified_image(store, sampled_checkpoint):  # noqa: F811
    view = errors.make_view(str(sampled_checkpoint))
    ev = ce.cached_evaluation(load_checkpoint(sampled_checkpoint))
    image, text = errors.random_image(store, view, only_errors=True, generator=torch.Generator().manual_seed(1))
    if len(ev.misclassified) == 0:
        assert image is None and "every image" in text
    else:
        assert image.shape == (2 * errors.TILE, 4 * errors.TILE, 3) and "wrong" in text and "True class" in text
    image, text = errors.random_image(store, view, only_errors=False)
    assert image is not None and "predicted" in text


def test_comparing_a_model_with_itself_finds_no_disagreement(store, sampled_checkpoint):  # noqa: F811
    view = errors.make_view(str(sampled_checkpoint))
    text, figure, items = errors.compare_view(store, view, str(sampled_checkpoint))
    assert "only shapes-resnet right on **0**" in text and items == [] and isinstance(figure, Figure)


def test_a_model_without_a_sample_and_bad_datasets_give_clear_messages(store, tiny_checkpoint, tmp_path):
    with pytest.raises(DataError, match="no bundled evaluation sample"):
        errors.load_view(CheckpointStore(tiny_checkpoint.parent), str(tiny_checkpoint), "", "auto", -1)
    make_shapes_dataset(tmp_path / "odd", per_class=3, classes=("circle", "cross"), split="test")
    (tmp_path / "odd" / "test" / "cross").rename(tmp_path / "odd" / "test" / "hexagon")
    with pytest.raises(DataError, match="hexagon"):
        errors.load_view(CheckpointStore(tiny_checkpoint.parent), str(tiny_checkpoint), str(tmp_path / "odd"), "auto", -1)
    with pytest.raises(DataError, match="no dataset"):
        errors.load_view(CheckpointStore(tiny_checkpoint.parent), str(tiny_checkpoint), str(tmp_path / "nowhere"), "auto", -1)
    with pytest.raises(CheckpointError):
        errors.load_view(CheckpointStore(tmp_path), "missing-model", "", "auto", -1)


def test_typed_dataset_is_evaluated_and_named(store, sampled_checkpoint, shapes_dir):  # noqa: F811
    out = errors.load_view(store, str(sampled_checkpoint), str(shapes_dir), "val", 0)
    assert str(shapes_dir) in out["status"] and "32 images" in out["status"] and "validation" in out["status"]
    assert out["view"] == {"model": str(sampled_checkpoint), "source": str(shapes_dir), "split": "val", "tta": 0}


def test_the_app_builds_with_the_tab(sampled_checkpoint):  # noqa: F811
    from demo.ui import build_app

    app = build_app(sampled_checkpoint.parent, allow_training=False, runs_dir=sampled_checkpoint.parent / ".no-runs")
    assert app is not None


def test_automatic_tta_is_the_model_cards_on_the_sample_and_off_on_typed_datasets():
    assert errors.view_tta(errors.make_view("m")) is None
    assert errors.view_tta(errors.make_view("m", "cifar10")) == 0
    assert errors.view_tta(errors.make_view("m", "cifar10", tta=2)) == 2


def test_comparing_two_different_models_on_the_first_ones_sample(store, sampled_checkpoint):  # noqa: F811
    import json
    import shutil

    from safetensors.torch import load_file, save_file

    other = sampled_checkpoint.parent / "shapes-b"
    shutil.copytree(sampled_checkpoint, other)
    (other / ce.SAMPLE_NAME).unlink()
    (other / ce.CACHE_NAME).unlink(missing_ok=True)
    config = json.loads((other / "config.json").read_text())
    config["dataset"]["seed"] = 7  # trained on another split: does not matter for an explicit val/ sample
    (other / "config.json").write_text(json.dumps(config))
    weights = load_file(str(other / "model.safetensors"))
    weights = {k: (v + 0.3 * torch.randn_like(v)) if v.dtype.is_floating_point else v for k, v in weights.items()}
    save_file(weights, str(other / "model.safetensors"))

    view = errors.make_view(str(sampled_checkpoint))
    text, _, only_a = errors.compare_view(store, view, str(other), "only_a", limit=100)
    _, _, only_b = errors.compare_view(store, view, str(other), "only_b", limit=100)
    a = ce.cached_evaluation(load_checkpoint(sampled_checkpoint))
    b = ce.cached_evaluation(load_checkpoint(other), sampled_checkpoint / ce.SAMPLE_NAME, "val", a.tta)
    assert len(only_a) == int((a.correct & ~b.correct).sum()) and len(only_b) == int((~a.correct & b.correct).sum())
    assert "shapes-b" in text and f"{a.n}" in text


def test_a_thousand_class_model_shows_only_the_classes_its_evaluation_set_holds():
    """ImageNet's 1000 classes on a sample of 3 of them: a 4x4 matrix (the 3, and answers outside them), and cell
    menus that offer the classes present or answered."""
    from core.evaluate import Evaluation
    from demo.errors import OTHER_CLASSES, confusion_plot, offered_classes

    classes = [f"class {i}" for i in range(1000)]
    labels = torch.tensor([5, 5, 5, 40, 40, 900])
    preds = torch.tensor([5, 40, 7, 40, 40, 900])
    logits = torch.nn.functional.one_hot(preds, 1000).float()
    ev = Evaluation(logits, logits.softmax(1), labels, preds, classes, {}, 1.0, {}, "sample", "val", 0, "imagenet")
    figure = confusion_plot(ev, "classes", highlight=(5, 7))
    ax = figure.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["class 5", "class 40", "class 900", OTHER_CLASSES]
    image = ax.get_images()[0].get_array()
    assert image.shape == (4, 4) and image[0, 3] > 0  # class 5 answered as class 7: outside the three
    assert offered_classes(ev) == ["class 5", "class 7", "class 40", "class 900"]


def test_cell_at_turns_a_pixel_into_the_row_and_column_under_it():
    from demo.plots import cell_at

    grid = {"left": 100.0, "top": 50.0, "width": 400.0, "height": 200.0, "rows": 4, "cols": 4}
    assert cell_at(100, 50, grid) == (0, 0)
    assert cell_at(499.9, 249.9, grid) == (3, 3)
    assert cell_at(350, 120, grid) == (1, 2)  # 250 of 400 px across: column 2; 70 of 200 px down: row 1
    for x, y in [(99, 60), (500, 60), (300, 49), (300, 250), (-5, -5)]:
        assert cell_at(x, y, grid) is None, (x, y)
    assert cell_at(10, 10, None) is None and cell_at(10, 10, {}) is None


def _centre_of_colour(picture: np.ndarray, rgb: tuple[int, int, int], tolerance: int = 40) -> tuple[float, float]:
    close = (np.abs(picture.astype(int) - np.array(rgb)).sum(axis=2) < tolerance)
    ys, xs = np.nonzero(close)
    assert len(xs) > 0, "the colour is not in the picture"
    return float(xs.mean()), float(ys.mean())


@pytest.mark.parametrize("classes", [4, 30])
def test_a_click_on_the_drawn_matrix_finds_the_cell_drawn_there(classes):
    """The outlined cell is found where matplotlib drew it: the click geometry and the picture agree."""
    from demo import plots

    rng = np.random.default_rng(classes)
    counts = rng.integers(0, 20, (classes, classes)) + np.eye(classes, dtype=np.int64) * 50
    names = [f"class {i}" for i in range(classes)]
    for true, pred in [(0, classes - 1), (classes // 2, classes // 3)]:
        picture, grid = plots.confusion_picture(counts, names, highlight=(true, pred))
        assert picture.dtype == np.uint8 and 0 < grid["left"] < grid["left"] + grid["width"] < picture.shape[1]
        red = tuple(int(plots.WRONG[i:i + 2], 16) for i in (1, 3, 5))  # the highlight's outline
        x, y = _centre_of_colour(picture, red)
        assert plots.cell_at(x, y, grid) == (true, pred)
        # the corners of the grid are the first and last cells
        assert plots.cell_at(grid["left"] + 1, grid["top"] + 1, grid) == (0, 0)
        assert plots.cell_at(grid["left"] + grid["width"] - 1, grid["top"] + grid["height"] - 1, grid) == (
            classes - 1, classes - 1)


def test_clicking_the_matrix_names_the_true_and_predicted_class(store, sampled_checkpoint):  # noqa: F811
    ev = ce.cached_evaluation(load_checkpoint(sampled_checkpoint))
    picture, cells = errors.confusion_picture(ev)
    step_x, step_y = cells["width"] / cells["cols"], cells["height"] / cells["rows"]
    x = cells["left"] + 2.5 * step_x  # column 2
    y = cells["top"] + 1.5 * step_y  # row 1
    assert errors.clicked_cell(cells, x, y) == (ev.classes[1], ev.classes[2])
    assert errors.clicked_cell(cells, 1, 1) is None  # the title's corner
    _, groups = errors.confusion_picture(ev, "groups")  # no groups: the classes again
    assert groups["unit"] == "class"


def test_compare_offers_only_other_models_with_the_same_classes(store, sampled_checkpoint):  # noqa: F811
    import json
    import shutil

    same = sampled_checkpoint.parent / "shapes-same"
    shuffled = sampled_checkpoint.parent / "shapes-shuffled"
    other = sampled_checkpoint.parent / "digits"
    for folder in (same, shuffled, other):
        shutil.copytree(sampled_checkpoint, folder)
    config = json.loads((shuffled / "config.json").read_text())
    config["classes"] = config["classes"][::-1]  # the same classes in another order: still comparable
    (shuffled / "config.json").write_text(json.dumps(config))
    config["classes"] = ["zero", "one", "two", "three"]
    (other / "config.json").write_text(json.dumps(config))
    offered = [path for _, path in errors.comparable_models(store, store.get(str(sampled_checkpoint)))]
    assert sorted(offered) == sorted([str(same), str(shuffled)])
    out = errors.load_view(store, str(sampled_checkpoint), "", "auto", -1)
    assert sorted(path for _, path in out["comparable"]) == sorted(offered)
