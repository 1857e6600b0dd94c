"""core.evaluate: metrics on hand-checked examples, the evaluation cache, cells, comparisons and the CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

import core.evaluate as ce
from core.checkpoint import load_checkpoint
from core.data import load_train_val, write_sample_zip
from core.errors import DataError
from tests.fixtures import make_shapes_dataset

# A hand-checked example: 3 classes, 9 images.
#   true:      a a a  b b  c c c c
#   predicted: a b b  b a  c a c b
# confusion (row = true):  a: [1 2 0]   b: [1 1 0]   c: [1 1 2]
LABELS = torch.tensor([0, 0, 0, 1, 1, 2, 2, 2, 2])
PREDS = torch.tensor([0, 1, 1, 1, 0, 2, 0, 2, 1])
NAMES = ["a", "b", "c"]


@pytest.fixture
def sampled_checkpoint(tiny_checkpoint, shapes_dir, tmp_path) -> Path:
    """A copy of the tiny checkpoint with its held-out validation images bundled as eval_sample.zip
    (the validation split of its own config: val_fraction 0.25, seed 0)."""
    folder = tmp_path / "ckpts" / "shapes-resnet"
    shutil.copytree(tiny_checkpoint, folder)
    _, val = load_train_val(shapes_dir, 0.25, 0)
    write_sample_zip(val, folder / ce.SAMPLE_NAME)
    return folder


@pytest.fixture
def inference_counter(monkeypatch) -> list[int]:
    """Counts the batches of images sent through a model by core.evaluate."""
    calls = [0]
    real = ce.predict_logits

    def counting(*args, **kwargs):
        calls[0] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(ce, "predict_logits", counting)
    return calls


def test_confusion_matrix_and_pairs_match_a_hand_checked_example():
    conf = ce.confusion_matrix(LABELS, PREDS, 3)
    assert conf.tolist() == [[1, 2, 0], [1, 1, 0], [1, 1, 2]]
    pairs = ce.confusion_pairs(conf, NAMES, top=10)
    assert pairs[0] == {"true": "a", "predicted": "b", "count": 2, "share": round(2 / 3, 4)}
    # both directions appear separately; ties come in class order
    assert [(p["true"], p["predicted"], p["count"], p["share"]) for p in pairs[1:]] == [
        ("b", "a", 1, 0.5), ("c", "a", 1, 0.25), ("c", "b", 1, 0.25)]
    assert ce.per_class_accuracy(conf).tolist() == pytest.approx([1 / 3, 0.5, 0.5])


def test_summary_from_cached_predictions_agrees_with_the_hand_example():
    probs = torch.nn.functional.one_hot(PREDS, 3).float() * 0.8 + 0.2 / 3
    out = ce.summarize_predictions(probs, PREDS, LABELS, NAMES, {"ab": ["a", "b"], "c": ["c"]})
    assert out["top1"] == pytest.approx(4 / 9)
    assert out["per_class_count"] == {"a": 3, "b": 2, "c": 4}
    # groups: ab vs c; true ab = 5 images all predicted in ab; true c: 2 of 4 predicted in c
    assert out["group_top1"] == pytest.approx(7 / 9)
    groups = ce.group_confusion(probs, LABELS, NAMES, {"ab": ["a", "b"], "c": ["c"]})
    assert groups.tolist() == [[5, 0], [2, 2]]


def test_confidence_histogram_splits_right_and_wrong_by_top_probability():
    probs = torch.tensor([[0.95, 0.05], [0.55, 0.45], [1.0, 0.0], [0.3, 0.7]])
    labels = torch.tensor([0, 1, 0, 1])  # right, wrong, right, right
    hist = ce.confidence_histogram(probs, labels, bins=10)
    assert len(hist["edges"]) == 11 and sum(hist["right"]) == 3 and sum(hist["wrong"]) == 1
    assert hist["wrong"][5] == 1  # 0.55
    assert hist["right"][9] == 2  # 0.95 and exactly 1.0
    assert hist["right"][7] == 1  # 0.7


def test_a_cell_selection_returns_exactly_the_images_of_that_cell(sampled_checkpoint):
    ckpt = load_checkpoint(sampled_checkpoint)
    ev = ce.cached_evaluation(ckpt)
    conf = ce.confusion_matrix(ev.labels, ev.preds, len(ev.classes))
    seen = []
    for t, true_name in enumerate(ev.classes):
        for p, pred_name in enumerate(ev.classes):
            idx = ce.cell_indices(ev, true_name, pred_name)
            assert len(idx) == conf[t, p]
            assert all(int(ev.labels[i]) == t and int(ev.preds[i]) == p for i in idx)
            assert torch.equal(idx, ce.cell_indices(ev, t, p))  # by index or by name
            seen += idx.tolist()
    assert sorted(seen) == list(range(ev.n))  # every image in exactly one cell
    off_diagonal = sorted(i for i in seen if int(ev.labels[i]) != int(ev.preds[i]))
    assert off_diagonal == ev.misclassified.tolist()
    with pytest.raises(DataError, match="not a class"):
        ce.cell_indices(ev, "hexagon", "circle")


def test_the_cache_is_reused_and_invalidated_when_the_weights_change(sampled_checkpoint, inference_counter):
    ckpt = load_checkpoint(sampled_checkpoint)
    first = ce.cached_evaluation(ckpt)
    cache = sampled_checkpoint / ce.CACHE_NAME
    assert first.cache_path == cache and cache.is_file() and inference_counter[0] == 1
    assert not first.from_cache and first.n == 32  # round(0.25 * 30) = 8 per class
    stamp = cache.stat().st_mtime_ns

    again = ce.cached_evaluation(load_checkpoint(sampled_checkpoint))
    assert inference_counter[0] == 1, "the second open must not run the model"
    assert again.from_cache and cache.stat().st_mtime_ns == stamp
    assert torch.equal(again.preds, first.preds) and torch.equal(again.labels, first.labels)
    assert again.probs.shape == first.probs.shape
    assert torch.allclose(again.probs, first.probs, atol=1e-3)  # the softmax of logits stored as float16
    assert load_file(str(cache))["logits"].dtype == torch.float16 and "probs" not in load_file(str(cache))

    # new weights (as after more training): same file name, different content -> recomputed
    weights = load_file(str(sampled_checkpoint / "model.safetensors"))
    name = next(k for k, v in weights.items() if v.dtype.is_floating_point and v.ndim == 4)
    weights[name] = weights[name] * 1.5
    save_file(weights, str(sampled_checkpoint / "model.safetensors"))
    changed = ce.cached_evaluation(load_checkpoint(sampled_checkpoint))
    assert inference_counter[0] == 2 and not changed.from_cache
    assert changed.key["model_sha256"] != first.key["model_sha256"]
    assert ce.cached_evaluation(load_checkpoint(sampled_checkpoint)).from_cache and inference_counter[0] == 2


def test_the_cache_is_invalidated_when_the_dataset_or_tta_changes(sampled_checkpoint, shapes_dir, inference_counter):
    ckpt = load_checkpoint(sampled_checkpoint)
    ce.cached_evaluation(ckpt)
    ce.cached_evaluation(ckpt, tta=1)  # another tta is another evaluation
    assert inference_counter[0] == 2
    _, val = load_train_val(shapes_dir, 0.25, 0)
    write_sample_zip(val.subset(torch.arange(10)), sampled_checkpoint / ce.SAMPLE_NAME)
    smaller = ce.cached_evaluation(ckpt)
    assert inference_counter[0] == 3 and smaller.n == 10


def test_other_datasets_are_cached_in_the_cache_folder_and_val_reproduces_the_model_card(tiny_checkpoint, shapes_dir):
    ckpt = load_checkpoint(tiny_checkpoint)
    ev = ce.cached_evaluation(ckpt, shapes_dir, "val", tta=0)
    assert ev.cache_path.parent == ce.cache_dir() / "eval"
    assert not (tiny_checkpoint / ce.CACHE_NAME).exists()
    # the carved validation split of config.json (val_fraction 0.25, seed 0) gives the model card's figure
    assert ev.n == ckpt.metrics["val"]["n"]
    assert float(ev.correct.float().mean()) == pytest.approx(ckpt.metrics["val"]["top1"], abs=1e-6)


def test_compare_predictions_finds_where_one_model_is_right_and_the_other_wrong(sampled_checkpoint):
    a = ce.cached_evaluation(load_checkpoint(sampled_checkpoint))
    b = ce.Evaluation(a.logits, a.probs, a.labels, a.labels.clone(), a.classes, a.groups, 1.0, dict(a.key), a.source,
                      a.split, a.tta, a.dataset_name)  # an oracle: always right
    out = ce.compare_predictions(a, b)
    assert out["top1_b"] == 1.0 and len(out["only_a"]) == 0
    assert out["only_b"].tolist() == a.misclassified.tolist()
    assert out["both_right"] + len(out["only_b"]) == a.n
    assert all(r["diff"] >= 0 for r in out["per_class"])
    other = ce.Evaluation(a.logits[:5], a.probs[:5], a.labels[:5], a.preds[:5], a.classes, a.groups, 1.0,
                          {**a.key, "dataset": "other"}, "x", "val", 0, "x")
    with pytest.raises(DataError, match="different images"):
        ce.compare_predictions(a, other)


def test_cli_prints_one_json_object_on_the_last_line_and_writes_the_cache(sampled_checkpoint, capsys):
    code = ce.main(["--checkpoint", str(sampled_checkpoint), "--data", str(sampled_checkpoint / ce.SAMPLE_NAME),
                    "--tta", "0", "--cache", "--json"])
    assert code == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    out = json.loads(last)
    for key in ("top1", "top5", "n", "per_class", "group_top1", "ece", "ece_calibrated", "confusion",
                "most_confused", "seconds"):
        assert key in out
    assert out["n"] == 32 and out["split"] == "val" and set(out["per_class"]) == {"circle", "cross", "square", "triangle"}
    assert sum(map(sum, out["confusion"])) == 32
    assert Path(out["cache"]) == sampled_checkpoint / ce.CACHE_NAME
    cached = ce.load_evaluation(out["cache"])
    assert cached is not None and float(cached.correct.float().mean()) == pytest.approx(out["top1"])


def test_cli_unknown_class_folder_is_a_clear_error_with_exit_code_2(tiny_checkpoint, tmp_path, capsys):
    make_shapes_dataset(tmp_path / "odd", per_class=3, classes=("circle", "cross"), split="test")
    (tmp_path / "odd" / "test" / "cross").rename(tmp_path / "odd" / "test" / "hexagon")
    code = ce.main(["--checkpoint", str(tiny_checkpoint), "--data", str(tmp_path / "odd"), "--json"])
    captured = capsys.readouterr()
    assert code == 2
    assert "hexagon" in captured.err and "not classes of this model" in captured.err
    assert "Traceback" not in captured.err and captured.out == ""


def test_build_eval_cache_writes_a_small_cache_beside_the_sample(sampled_checkpoint, tiny_checkpoint):
    path = ce.build_eval_cache(sampled_checkpoint)
    assert path == sampled_checkpoint / ce.CACHE_NAME and path.stat().st_size < 20_000
    with pytest.raises(DataError, match="eval_sample.zip"):
        ce.build_eval_cache(tiny_checkpoint)  # no bundled sample
