"""Ensembles of checkpoints: building, int8 storage, figures, explanations and fine-tuning from one."""

import json
import shutil

import pytest
import torch

from core.checkpoint import CheckpointStore, build_config, dequantize, load_checkpoint, quantize_int4, quantize_int8, save_checkpoint
from core.ensemble import build_ensemble, main
from core.errors import CheckpointError, ConfigError
from core.evaluate import cached_evaluation, load_eval_set
from core.explain import _layers, cam_and_logits, feature_maps, first_layer_filters
from core.models import Ensemble, create_model
from core.predict import to_model_input
from tests.conftest import TINY_ARCH


@pytest.fixture(scope="module")
def second_member(shapes_dir, tmp_path_factory):
    """Another network for the shapes: another initialisation and data order, the tiny checkpoint's split."""
    from core.train import TrainConfig, train

    out = tmp_path_factory.mktemp("member") / "shapes-resnet-seed1"
    train(TrainConfig(data=str(shapes_dir), output_dir=str(out), arch="resnet", arch_kwargs=TINY_ARCH, epochs=8,
                      batch_size=16, optimizer="adam", lr=3e-3, val_fraction=0.25, tta=0, log_every=1000,
                      seed=1, split_seed=0))
    return out


@pytest.fixture(scope="module")
def ensemble_dir(tiny_checkpoint, second_member, tmp_path_factory):
    return build_ensemble([tiny_checkpoint, second_member], tmp_path_factory.mktemp("ens") / "shapes-ensemble")


def _val_inputs(ckpt, shapes_dir):
    val = load_eval_set(ckpt, shapes_dir, "val")
    return val, to_model_input(val.images, ckpt.mean, ckpt.std)


def test_split_seed_keeps_the_split_and_changes_the_network(tiny_checkpoint, second_member, shapes_dir):
    a, b = load_checkpoint(tiny_checkpoint), load_checkpoint(second_member)
    assert b.config["dataset"]["seed"] == a.config["dataset"]["seed"] == 0 and b.config["recipe"]["seed"] == 1
    assert torch.equal(load_eval_set(a, shapes_dir, "val").images, load_eval_set(b, shapes_dir, "val").images)
    w = "stage1.conv.weight"
    assert not torch.equal(a.model.state_dict()[w], b.model.state_dict()[w])


def test_ensemble_averages_its_members_probabilities(ensemble_dir, tiny_checkpoint, second_member, shapes_dir):
    ens = load_checkpoint(ensemble_dir)
    a, b = load_checkpoint(tiny_checkpoint), load_checkpoint(second_member)
    assert isinstance(ens.model, Ensemble) and len(ens.model.members) == 2
    assert [m["source"] for m in ens.config["members"]] == [tiny_checkpoint.name, second_member.name]
    _, x = _val_inputs(ens, shapes_dir)
    with torch.no_grad():
        expected = (a.model(x).softmax(1) + b.model(x).softmax(1)) / 2
        assert torch.allclose(ens.model(x).softmax(1), expected, atol=1e-5)
    # its recorded validation figures are what evaluating the saved folder gives
    ev = cached_evaluation(ens, shapes_dir, "val", tta=0)
    assert ens.metrics["val"]["top1"] == pytest.approx(float((ev.preds == ev.labels).float().mean()))
    assert ens.metrics["members"] == 2 and ens.metrics["train_seconds"] == pytest.approx(
        a.metrics["train_seconds"] + b.metrics["train_seconds"], abs=0.2)
    assert 0.05 <= ens.temperature <= 20


def test_ensemble_card_tells_how_to_rebuild_it(ensemble_dir, tiny_checkpoint, second_member):
    card = (ensemble_dir / "README.md").read_text()
    assert f"python -m core.ensemble runs/{tiny_checkpoint.name} runs/{second_member.name} --output-dir checkpoints/shapes-ensemble" in card
    assert f"--output-dir runs/{second_member.name}" in card and "--seed 1" in card and "--split-seed 0" in card
    assert "An ensemble of 2 networks" in card and "member 1" in card


def test_inside_views_show_the_first_member_and_gradcam_covers_all(ensemble_dir, tiny_checkpoint, shapes_dir):
    ens, first = load_checkpoint(ensemble_dir), load_checkpoint(tiny_checkpoint)
    _, x = _val_inputs(ens, shapes_dir)
    assert ens.model.conv_stage_names() == first.model.conv_stage_names()
    ours, theirs = feature_maps(ens, x[:1], "stage1"), feature_maps(first, x[:1], "stage1")
    assert [m.channel for m in ours] == [m.channel for m in theirs]
    assert (first_layer_filters(ens) == first_layer_filters(first)).all()
    cams, logits = cam_and_logits(ens, x[:4])
    assert cams.shape == (4, 32, 32) and cams.min() >= 0 and cams.max() <= 1
    with torch.no_grad():
        assert torch.allclose(logits, ens.model(x[:4]), atol=1e-5)
    last = ens.model.conv_stage_names()[-1]
    assert _layers(ens.model, None) == [m.get_submodule(last) for m in ens.model.members]  # every member's map
    only_first, _ = cam_and_logits(first, x[:4])
    assert not (abs(cams - only_first) < 1e-6).all()


def test_int8_weights_are_a_quarter_and_predict_the_same(tiny_checkpoint, second_member, ensemble_dir, tmp_path, shapes_dir):
    q = build_ensemble([tiny_checkpoint, second_member], tmp_path / "q", weight_format="int8")
    size = lambda d: sum(f.stat().st_size for f in d.glob("model*.safetensors"))  # noqa: E731
    assert size(q) < 0.5 * size(ensemble_dir)
    full, small = load_checkpoint(ensemble_dir), load_checkpoint(q)
    assert small.config["weight_format"] == "int8"
    _, x = _val_inputs(full, shapes_dir)
    with torch.no_grad():
        p, r = full.model(x).softmax(1), small.model(x).softmax(1)
    assert (p - r).abs().max() < 0.05 and (p.argmax(1) == r.argmax(1)).float().mean() >= 0.9
    # re-saving a loaded int8 checkpoint keeps it int8
    save_checkpoint(tmp_path / "again", small.model, small.config, small.metrics)
    assert size(tmp_path / "again") == pytest.approx(size(q), rel=0.01)


def test_quantize_int8_round_trip_error_is_bounded():
    state = {"w": torch.randn(16, 8, 3, 3) * torch.linspace(0.01, 3, 16).view(-1, 1, 1, 1), "b": torch.randn(16),
             "small": torch.randn(4, 4), "count": torch.tensor(7)}
    q = quantize_int8(state)
    assert q["w"].dtype == torch.int8 and q["b"].dtype == torch.float32 and q["small"].dtype == torch.float32
    back = dequantize(q)
    assert set(back) == set(state)
    step = state["w"].flatten(1).abs().amax(1) / 127
    assert ((back["w"] - state["w"]).abs() <= step.view(-1, 1, 1, 1) / 2 + 1e-7).all()
    assert torch.equal(back["b"], state["b"]) and torch.equal(back["count"], state["count"])
    with pytest.raises(CheckpointError, match="int8_scale"):
        dequantize({"w.int8_scale": torch.ones(3)})


def test_quantize_int4_round_trip_error_is_bounded():
    # rows of 216 weights (24 x 3 x 3) do not fill whole groups of 32: the last group is padded
    state = {"w": torch.randn(16, 24, 3, 3) * torch.linspace(0.01, 3, 16).view(-1, 1, 1, 1), "fc": torch.randn(10, 200),
             "b": torch.randn(16), "count": torch.tensor(7)}
    q = quantize_int4(state)
    assert q["w"].dtype == torch.uint8 and q["w"].shape == (16, 7 * 32 // 2) and q["w.int4_scale"].shape == (16, 7)
    assert q["w.int4_scale"].dtype == torch.float16 and q["b"].dtype == torch.float32
    back = dequantize(q)
    assert set(back) == set(state) and back["w"].shape == state["w"].shape and back["fc"].shape == (10, 200)
    for key in ("w", "fc"):  # each weight within half a step of its group's scale
        rows = state[key].flatten(1)
        rows = torch.nn.functional.pad(rows, (0, -rows.shape[1] % 32)).view(len(rows), -1, 32)
        err = torch.nn.functional.pad((back[key] - state[key]).flatten(1), (0, -state[key].flatten(1).shape[1] % 32))
        assert (err.view_as(rows).abs() <= q[f"{key}.int4_scale"].float().unsqueeze(2) / 2 + 1e-6).all()
        assert (back[key] - state[key]).abs().max() > 0  # really quantized
    assert torch.equal(back["b"], state["b"]) and torch.equal(back["count"], state["count"])
    with pytest.raises(CheckpointError, match="int4"):
        dequantize({"w": q["w"], "w.int4_scale": q["w.int4_scale"]})  # no shape
    with pytest.raises(CheckpointError, match="int4"):
        dequantize({"w": q["w"], "w.int4_scale": q["w.int4_scale"], "w.int4_shape": torch.tensor([16, 48, 3, 3])})


def test_int4_ensemble_is_smaller_than_int8_and_predicts_nearly_the_same(tiny_checkpoint, second_member, ensemble_dir,
                                                                          tmp_path, shapes_dir):
    from core.bundle import store_quantized

    q8 = build_ensemble([tiny_checkpoint, second_member], tmp_path / "q8", weight_format="int8")
    q4 = build_ensemble([tiny_checkpoint, second_member], tmp_path / "q4", weight_format="int4")
    size = lambda d: sum(f.stat().st_size for f in d.glob("model*.safetensors"))  # noqa: E731
    assert size(q4) < size(q8)
    full, small = load_checkpoint(ensemble_dir), load_checkpoint(q4)
    assert small.config["weight_format"] == "int4" and "--int4" in (q4 / "README.md").read_text()
    _, x = _val_inputs(full, shapes_dir)
    with torch.no_grad():
        p, r = full.model(x).softmax(1), small.model(x).softmax(1)
    assert (p - r).abs().max() < 0.1 and (p.argmax(1) == r.argmax(1)).float().mean() >= 0.8
    labels = load_eval_set(small, shapes_dir, "val").labels
    assert small.metrics["val"]["top1"] == pytest.approx(float((r.argmax(1) == labels).float().mean()))
    # a single checkpoint: int4 in place with re-measured figures; quantizing quantized weights again is refused
    single = tmp_path / "single"
    shutil.copytree(tiny_checkpoint, single)
    val = store_quantized(single, "int4")
    assert load_checkpoint(single).config["weight_format"] == "int4" and "val_float" in load_checkpoint(single).metrics
    assert 0 <= val["top1"] <= 1
    with pytest.raises(ConfigError, match="already stored as int4"):
        store_quantized(single, "int8")


def test_int4_from_a_layer_leaves_the_earlier_layers_and_the_classifier_int8():
    net = {"stem.weight": torch.randn(16, 24, 3, 3), "stage2.conv.weight": torch.randn(32, 16, 3, 3),
           "stage3.conv.weight": torch.randn(32, 32, 3, 3), "stage3.bn.weight": torch.randn(32),
           "stage4.conv.weight": torch.randn(32, 32, 3, 3), "head.weight": torch.randn(10, 200)}
    ensemble = {f"members.{i}.{k}": v for i in (0, 1) for k, v in net.items()}
    for state, prefixes in ((net, [""]), (ensemble, ["members.0.", "members.1."])):
        q = quantize_int4(state, int4_from="stage3")
        for p in prefixes:
            int8 = ["stem", "stage2.conv", "head"]
            assert [k for k in int8 if q[f"{p}{k}.weight"].dtype == torch.int8] == int8
            assert q[f"{p}stage3.conv.weight"].dtype == q[f"{p}stage4.conv.weight"].dtype == torch.uint8
            assert q[f"{p}stage3.bn.weight"].dtype == torch.float32
        back = dequantize(q)
        assert all(back[k].shape == v.shape and (back[k] - v).abs().max() < v.abs().max() / 6 for k, v in state.items())
    with pytest.raises(CheckpointError, match="no layer 'stage9'.*head, stage2, stage3, stage4, stem"):
        quantize_int4(net, int4_from="stage9")
    with pytest.raises(CheckpointError, match="no layer 'stage'"):  # whole names only, not their beginnings
        quantize_int4(net, int4_from="stage")
    assert quantize_int4(net, int4_from="stage3.conv")["stage3.conv.weight"].dtype == torch.uint8  # or a sub-layer


def test_int4_from_a_layer_keeps_the_earlier_layers_int8_in_every_member(tiny_checkpoint, second_member, tmp_path,
                                                                         shapes_dir, capsys):
    from safetensors.torch import load_file

    from core.bundle import main as bundle_main
    from core.bundle import store_quantized
    from core.ensemble import main as ensemble_main

    sizes = {}
    for name, options in (("q8", ["--int8"]), ("q4", ["--int4"]), ("mixed", ["--int4", "--int4-from", "stage3"])):
        assert ensemble_main([str(tiny_checkpoint), str(second_member), "--output-dir", str(tmp_path / name), *options]) == 0
        sizes[name] = sum(f.stat().st_size for f in (tmp_path / name).glob("model*.safetensors"))
    assert sizes["q4"] < sizes["mixed"] < sizes["q8"]
    stored = load_file(tmp_path / "mixed" / "model.safetensors")
    for i in (0, 1):
        for layer in ("stage2.conv", "stage2.blocks.0.conv"):
            assert stored[f"members.{i}.{layer}.weight"].dtype == torch.int8 and f"members.{i}.{layer}.weight.int8_scale" in stored
        for layer in ("stage3.conv", "stage3.blocks.0.conv"):
            assert stored[f"members.{i}.{layer}.weight"].dtype == torch.uint8 and f"members.{i}.{layer}.weight.int4_scale" in stored
    mixed = load_checkpoint(tmp_path / "mixed")
    assert mixed.config["int4_from"] == "stage3" and "--int4 --int4-from stage3" in (tmp_path / "mixed" / "README.md").read_text()
    labels = load_eval_set(mixed, shapes_dir, "val").labels
    _, x = _val_inputs(mixed, shapes_dir)
    with torch.no_grad():
        preds = mixed.model(x).argmax(1)
    assert mixed.metrics["val"]["top1"] == pytest.approx(float((preds == labels).float().mean()))  # measured as loaded
    # a layer no member has, or int4_from without int4: a clear error, nothing written
    assert ensemble_main([str(tiny_checkpoint), str(second_member), "--output-dir", str(tmp_path / "bad"), "--int4",
                          "--int4-from", "stage9"]) == 2
    assert "no layer 'stage9'" in capsys.readouterr().err and not (tmp_path / "bad").exists()
    single = tmp_path / "single"
    shutil.copytree(tiny_checkpoint, single)
    assert bundle_main([str(single), "--int8", "--int4-from", "stage3"]) == 2
    assert "goes with --int4" in capsys.readouterr().err and "weight_format" not in load_checkpoint(single).config
    store_quantized(single, "int4", int4_from="stage3")
    assert load_checkpoint(single).config["int4_from"] == "stage3"
    assert "--int4 --int4-from stage3" in (single / "README.md").read_text()


def test_members_that_cannot_vote_together_are_refused(tiny_checkpoint, second_member, tmp_path):
    other_split = tmp_path / "other-split"
    shutil.copytree(second_member, other_split)
    config = json.loads((other_split / "config.json").read_text())
    config["dataset"]["seed"] = 5
    (other_split / "config.json").write_text(json.dumps(config))
    with pytest.raises(ConfigError, match="another split.*--split-seed 0"):
        build_ensemble([tiny_checkpoint, other_split], tmp_path / "x")
    three = create_model("resnet", 3, 32, widths=(4, 8), stem_width=4)
    save_checkpoint(tmp_path / "three", three, build_config("resnet", {"widths": (4, 8), "stem_width": 4},
                                                           ["a", "b", "c"], 32, [0.5] * 3, [0.25] * 3))
    with pytest.raises(ConfigError, match="other classes"):
        build_ensemble([tiny_checkpoint, tmp_path / "three"], tmp_path / "x")
    with pytest.raises(ConfigError, match="2 to 8"):
        build_ensemble([tiny_checkpoint], tmp_path / "x")
    with pytest.raises(ConfigError, match="weight format"):
        build_ensemble([tiny_checkpoint, second_member], tmp_path / "x", weight_format="int2")
    assert not (tmp_path / "x").exists()


def test_a_shipped_ensemble_gains_or_loses_networks_without_their_runs(ensemble_dir, tiny_checkpoint, second_member,
                                                                       tmp_path, shapes_dir):
    # the ensemble's folder stands for all its networks: the same votes, the same entries, the same figures
    again = load_checkpoint(build_ensemble([ensemble_dir], tmp_path / "again"))
    ens = load_checkpoint(ensemble_dir)
    assert again.config["members"] == ens.config["members"]
    assert again.metrics["val"]["top1"] == ens.metrics["val"]["top1"]
    assert again.metrics["train_seconds"] == pytest.approx(ens.metrics["train_seconds"], abs=0.2)
    assert (tmp_path / "again" / "curves.png").read_bytes() == (ensemble_dir / "curves.png").read_bytes()
    # FOLDER:1 picks member 1, here beside a plain checkpoint: as if built from the two runs
    picked = build_ensemble([f"{ensemble_dir}:1", second_member], tmp_path / "picked")
    _, x = _val_inputs(ens, shapes_dir)
    with torch.no_grad():
        assert torch.allclose(load_checkpoint(picked).model(x), ens.model(x), atol=1e-6)
    card = (picked / "README.md").read_text()
    assert f"python -m core.ensemble runs/{tiny_checkpoint.name} runs/{second_member.name}" in card


def test_int4_weights_taken_out_of_an_int4_ensemble_stay_exactly_the_same(tiny_checkpoint, second_member, tmp_path):
    from safetensors.torch import load_file

    q4 = build_ensemble([tiny_checkpoint, second_member], tmp_path / "q4", weight_format="int4", int4_from="stage3")
    again = build_ensemble([f"{q4}:1,2"], tmp_path / "again", weight_format="int4", int4_from="stage3")
    a, b = load_file(str(q4 / "model.safetensors")), load_file(str(again / "model.safetensors"))
    assert set(a) == set(b) and any(k.endswith("int4_scale") for k in a) and any(k.endswith("int8_scale") for k in a)
    for k in a:
        if k.endswith("int8_scale"):  # a float32 scale recomputed from dequantized weights: equal to rounding
            assert torch.allclose(a[k], b[k], rtol=1e-6), k
        else:
            assert torch.equal(a[k], b[k]), k
    assert load_checkpoint(again).metrics["val"] == load_checkpoint(q4).metrics["val"]


def test_member_specs_that_cannot_make_an_ensemble_are_refused(ensemble_dir, tiny_checkpoint, tmp_path, capsys):
    for spec, message in [([f"{tiny_checkpoint}:1", ensemble_dir], "one network, not an ensemble"),
                          ([f"{ensemble_dir}:1,3"], "members 1 to 2, not 3"),
                          ([f"{ensemble_dir}:1,1"], "member 1 of .* is listed twice"),
                          ([tiny_checkpoint, f"{ensemble_dir}"], "member 1 of .* listed twice.*runs/shapes"),
                          ([f"{ensemble_dir}:2", tiny_checkpoint], "needs its training curves.*member 1")]:
        with pytest.raises(ConfigError, match=message):
            build_ensemble(spec, tmp_path / "x")
    assert not (tmp_path / "x").exists()
    assert main([f"{ensemble_dir}:0,1", "--output-dir", str(tmp_path / "x")]) == 2
    assert "not 0" in capsys.readouterr().err


def test_cli_reports_a_clear_error(tiny_checkpoint, tmp_path, capsys):
    assert main([str(tiny_checkpoint), str(tmp_path / "nowhere"), "--output-dir", str(tmp_path / "x")]) == 2
    assert "no checkpoint folder" in capsys.readouterr().err


def test_fine_tuning_an_ensemble_starts_from_its_first_member(ensemble_dir, shapes_dir, tmp_path):
    from core.train import TrainConfig, train

    out = tmp_path / "tuned"
    train(TrainConfig(data=str(shapes_dir), output_dir=str(out), init_from=str(ensemble_dir), epochs=1, batch_size=16,
                      optimizer="adam", lr=1e-4, val_fraction=0.25, tta=0, log_every=1000))
    tuned = load_checkpoint(out)
    assert not isinstance(tuned.model, Ensemble) and "members" not in tuned.config
    assert tuned.config["arch_kwargs"] == load_checkpoint(ensemble_dir).config["arch_kwargs"]


def test_store_serves_an_ensemble(ensemble_dir):
    store = CheckpointStore(ensemble_dir.parent)
    assert isinstance(store.get(ensemble_dir.name).model, Ensemble)


def test_app_tabs_work_on_an_ensemble(ensemble_dir):
    import numpy as np

    from demo import explore, inside, live
    from demo.ui import AppContext
    from tests.fixtures import shape_image

    ctx = AppContext(CheckpointStore(ensemble_dir.parent))
    photo = np.asarray(shape_image("circle", 200, np.random.default_rng(1)))
    rows = inside.stages_table(ctx, ensemble_dir.name)
    assert rows[-1][0] == "ensemble" and "2 networks" in rows[-1][1]
    assert int(rows[-1][2].replace(",", "")) == sum(p.numel() for p in load_checkpoint(ensemble_dir).model.parameters())
    r = live.live_frame(ctx, photo, ensemble_dir.name, None)
    assert len(r.top) == 4 and sum(r.top.values()) == pytest.approx(1.0, abs=1e-4) and r.overlay is not None
    top, overlay, caption, *_ = explore.explore(ctx, photo, ensemble_dir.name)
    assert len(top) == 4 and overlay is not None
    tiles, channels, msg = inside.feature_map_tiles(ctx, photo, ensemble_dir.name, "stage2")
    assert msg == "" and len(tiles) == 16


def test_bundle_int8_shrinks_a_checkpoint_and_remeasures_it(tiny_checkpoint, tmp_path, shapes_dir):
    from core.bundle import main as bundle_main

    work = tmp_path / "shapes-int8"
    shutil.copytree(tiny_checkpoint, work)
    before = load_checkpoint(work)
    assert bundle_main([str(work), "--int8", "--per-class", "3"]) == 0
    after = load_checkpoint(work)
    assert after.config["weight_format"] == "int8" and after.metrics["val_float"] == before.metrics["val"]
    ev = cached_evaluation(after, shapes_dir, "val", tta=0)
    assert after.metrics["val"]["top1"] == pytest.approx(float((ev.preds == ev.labels).float().mean()))
    assert after.metrics["history"] == before.metrics["history"] and (work / "curves.png").is_file()
    assert f"python -m core.bundle checkpoints/{work.name} --int8" in (work / "README.md").read_text()
    assert (work / "eval_sample.zip").is_file()


def test_bundle_float16_halves_a_checkpoint_and_predicts_nearly_the_same(tiny_checkpoint, tmp_path):
    from core.bundle import main as bundle_main

    work = tmp_path / "shapes-float16"
    shutil.copytree(tiny_checkpoint, work)
    before = load_checkpoint(work)
    assert bundle_main([str(work), "--float16", "--per-class", "3"]) == 0
    after = load_checkpoint(work)
    assert after.config["weight_format"] == "float16" and "--float16" in (work / "README.md").read_text()
    assert (work / "model.safetensors").stat().st_size < 0.6 * (tiny_checkpoint / "model.safetensors").stat().st_size
    x = torch.randn(4, 3, 32, 32)
    assert torch.allclose(after.model(x), before.model(x), atol=1e-2)


@pytest.fixture(scope="module")
def swapped_teacher(tiny_checkpoint, tmp_path_factory):
    """The tiny checkpoint with its class scores rolled by one: it names class (i + 1) % 4 wherever it saw class i."""
    ckpt = load_checkpoint(tiny_checkpoint)
    linear = [m for m in ckpt.model.head if isinstance(m, torch.nn.Linear)][0]
    with torch.no_grad():
        linear.weight.copy_(linear.weight.roll(1, dims=0))
    out = tmp_path_factory.mktemp("teacher") / "shapes-swapped"
    save_checkpoint(out, ckpt.model, ckpt.config, ckpt.metrics)
    return out


def test_distilling_student_learns_the_teachers_answers(swapped_teacher, tiny_checkpoint, shapes_dir, tmp_path):
    from core.data import load_train_val
    from core.train import TrainConfig, teacher_targets, train

    cfg = TrainConfig(data=str(shapes_dir), output_dir=str(tmp_path / "student"), arch="resnet", arch_kwargs=TINY_ARCH,
                      epochs=8, batch_size=16, optimizer="adam", lr=3e-3, val_fraction=0.25, tta=0, log_every=1000,
                      seed=2, split_seed=0, teacher=str(swapped_teacher), distill=1.0, cutmix=1.0)
    # the soft targets: the teacher's probabilities (rows sum to 1), so here the rolled names
    train_set, _ = load_train_val(str(shapes_dir), 0.25, 0)
    probs, _ = teacher_targets(str(swapped_teacher), train_set, cfg, 0)
    assert probs.shape == (len(train_set), 4) and torch.allclose(probs.sum(1), torch.ones(len(train_set)), atol=1e-4)
    assert float((probs.argmax(1) == (train_set.labels + 1) % 4).float().mean()) > 0.8
    # a student taught only by it (through CutMix, which mixes the soft targets) learns the rolled names: by the
    # last epoch it is mostly wrong on validation, where the same recipe with the labels (the tiny checkpoint) is
    # mostly right
    history = train(cfg).metrics["history"]
    assert history[-1]["val_acc"] < 0.4 < 0.6 < load_checkpoint(tiny_checkpoint).metrics["history"][-1]["val_acc"]
    student = load_checkpoint(cfg.output_dir)
    assert student.config["recipe"]["teacher"] == str(swapped_teacher)
    card = (student.path / "README.md").read_text()  # the teacher is made first, then the student learns from it
    assert card.index(f"--output-dir {swapped_teacher}") < card.index(f"--teacher {swapped_teacher}")
    assert student.config["teacher"]["path"] == str(swapped_teacher) and student.config["teacher"]["members"] == []
    assert not (tmp_path / ".student.teacher.pt").exists()  # a finished run leaves no cache behind


def test_teacher_targets_are_cached_for_resume_and_recomputed_when_the_teacher_changes(
        swapped_teacher, tiny_checkpoint, shapes_dir, tmp_path, monkeypatch):
    import core.train
    from core.data import load_train_val
    from core.train import TrainConfig, teacher_targets

    cfg = TrainConfig(data=str(shapes_dir), val_fraction=0.25, split_seed=0)
    train_set, _ = load_train_val(str(shapes_dir), 0.25, 0)
    cache = tmp_path / ".run.teacher.pt"
    rolled, _ = teacher_targets(str(swapped_teacher), train_set, cfg, 0, cache=cache)
    calls = []
    real_predict = core.train.predict_logits
    monkeypatch.setattr(core.train, "predict_logits", lambda *a, **k: calls.append(1) or real_predict(*a, **k))
    again, _ = teacher_targets(str(swapped_teacher), train_set, cfg, 0, cache=cache)
    assert calls == [] and torch.equal(again, rolled)  # read back, the teacher did not run
    other, _ = teacher_targets(str(tiny_checkpoint), train_set, cfg, 0, cache=cache)  # another teacher: labelled anew
    assert calls == [1] and float((other.argmax(1) == rolled.argmax(1)).float().mean()) < 0.5
    cache.write_bytes(b"not a torch file")  # a damaged cache is recomputed, not an error
    again, _ = teacher_targets(str(swapped_teacher), train_set, cfg, 0, cache=cache)
    assert calls == [1, 1] and torch.allclose(again, rolled)


def test_card_of_an_ensemble_with_a_distilled_member_rebuilds_its_teacher_first(ensemble_dir):
    from core.report import model_card

    ens = load_checkpoint(ensemble_dir)
    config = json.loads(json.dumps(ens.config))
    first, second = config["members"]
    student = {**second, "source": "student", "teacher": {"path": "runs/teacher", "members": [first, second], "lineage": []}}
    config["members"] = [first, student]
    card = model_card("shapes-ensemble", config, ens.metrics)
    a, b = f"--output-dir runs/{first['source']} ", f"--output-dir runs/{second['source']} "
    combine_teacher = f"python -m core.ensemble runs/{first['source']} runs/{second['source']} --output-dir runs/teacher"
    assert card.count(a) == 1 and card.count(b) == 1 and card.count(combine_teacher) == 1
    assert card.index(a) < card.index(b) < card.index(combine_teacher) < card.index("--output-dir runs/student")


def test_distilling_refuses_a_teacher_that_saw_the_validation_images(tiny_checkpoint, shapes_dir, tmp_path):
    from core.train import TrainConfig, train

    cfg = TrainConfig(data=str(shapes_dir), output_dir=str(tmp_path / "student"), arch="resnet", arch_kwargs=TINY_ARCH,
                      epochs=1, batch_size=16, val_fraction=0.25, seed=1, teacher=str(tiny_checkpoint))
    with pytest.raises(ConfigError, match="another split"):
        train(cfg)
    with pytest.raises(ConfigError, match="distill must be in"):
        train(TrainConfig(data=str(shapes_dir), teacher=str(tiny_checkpoint), distill=1.5))
    assert not (tmp_path / "student").exists()
