import json
import shutil

import pytest
import torch

from core.checkpoint import CheckpointStore, build_config, list_checkpoints, load_checkpoint, save_checkpoint
from core.errors import CheckpointError
from core.models import create_model


def _save_small(path):
    model = create_model("resnet", 3, 32, widths=(4, 8), stem_width=4)
    config = build_config("resnet", {"widths": (4, 8), "stem_width": 4}, ["a", "b", "c"], 32, [0.5] * 3, [0.25] * 3)
    save_checkpoint(path, model, config, {"val": {"top1": 0.5}})
    return model


def test_checkpoint_round_trip_is_plain_files(tmp_path):
    model = _save_small(tmp_path / "m")
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["README.md", "config.json", "metrics.json", "model.safetensors"]
    ckpt = load_checkpoint(tmp_path / "m")
    assert ckpt.classes == ["a", "b", "c"] and not ckpt.model.training
    x = torch.randn(2, 3, 32, 32)
    model.eval()
    assert torch.allclose(ckpt.model(x), model(x))
    assert json.loads((tmp_path / "m" / "config.json").read_text())["arch_kwargs"]["widths"] == [4, 8]


def test_missing_corrupt_and_mismatched_files_name_the_file(tmp_path):
    _save_small(tmp_path / "m")
    for i, (name, damage, expected) in enumerate([
        ("model.safetensors", lambda p: p.unlink(), "model.safetensors is missing"),
        ("model.safetensors", lambda p: p.write_bytes(b"garbage"), "model.safetensors is corrupt"),
        ("config.json", lambda p: p.write_text("{not json"), "config.json is not valid JSON"),
        ("config.json", lambda p: p.write_text(p.read_text().replace('"num_classes": 3', '"num_classes": 3, "x": 1')
                                               .replace('"c"\n', '"c",\n    "d"\n')), "does not match"),
    ]):
        broken = tmp_path / f"broken-{i}"
        shutil.copytree(tmp_path / "m", broken)
        damage(broken / name)
        with pytest.raises(CheckpointError, match=expected):
            load_checkpoint(broken)


def test_saving_replaces_atomically_and_keeps_extra_files(tmp_path):
    _save_small(tmp_path / "m")
    (tmp_path / "m" / "eval_sample.zip").write_bytes(b"zip")
    _save_small(tmp_path / "m")
    assert (tmp_path / "m" / "eval_sample.zip").read_bytes() == b"zip"
    assert [p.name for p in tmp_path.iterdir()] == ["m"]  # no temporary folders left behind


def test_store_lists_labels_and_reloads_changed_weights(tmp_path):
    _save_small(tmp_path / "m")
    (tmp_path / "not-a-checkpoint").mkdir()
    store = CheckpointStore(tmp_path)
    assert store.choices() == [("m (50.0%)", str(tmp_path / "m"))]
    first = store.get("m")
    assert store.get(tmp_path / "m") is first
    _save_small(tmp_path / "m")
    assert store.get("m") is not first
    with pytest.raises(CheckpointError, match="no checkpoint named"):
        store.get("nope")
    assert list_checkpoints(tmp_path / "absent") == []


def test_weights_too_large_for_float32_are_stored_as_float16_and_load_back(tmp_path):
    from safetensors.torch import load_file

    model = create_model("simplecnn", 10, 32)  # 4.5 M parameters: 18 MB in float32
    config = build_config("simplecnn", {}, [str(i) for i in range(10)], 32, [0.5] * 3, [0.25] * 3)
    save_checkpoint(tmp_path / "big", model, config)
    assert (tmp_path / "big" / "model.safetensors").stat().st_size < 10 * 1024 * 1024
    assert load_file(str(tmp_path / "big" / "model.safetensors"))["head.1.weight"].dtype == torch.float16
    ckpt = load_checkpoint(tmp_path / "big")
    x = torch.randn(2, 3, 32, 32)
    model.eval()
    assert next(ckpt.model.parameters()).dtype == torch.float32
    assert torch.allclose(ckpt.model(x), model(x), atol=1e-2)


def test_weights_over_the_file_limit_are_split_into_parts_that_load_back(tmp_path, monkeypatch):
    import core.checkpoint as cc

    monkeypatch.setattr(cc, "MAX_FILE_BYTES", 2 * 1024 * 1024)  # ~2 M float16 parameters: ~4 MB, so 3 parts
    model = create_model("resnet", 10, 32)
    config = build_config("resnet", {}, [str(i) for i in range(10)], 32, [0.5] * 3, [0.25] * 3)
    save_checkpoint(tmp_path / "big", model, config)
    files = cc.weight_files(tmp_path / "big")
    assert [f.name for f in files][:2] == ["model.safetensors", "model.2.safetensors"] and len(files) >= 3
    assert all(f.stat().st_size <= 2 * 1024 * 1024 for f in files)
    model.eval()
    x = torch.randn(2, 3, 32, 32)
    assert torch.allclose(load_checkpoint(tmp_path / "big").model(x), model(x), atol=1e-2)
    digest = cc.weights_sha256(tmp_path / "big")

    # saving a smaller model over it leaves no stale part behind
    save_checkpoint(tmp_path / "big", create_model("resnet", 10, 32, widths=(8, 16)), config | {"arch_kwargs": {"widths": [8, 16]}})
    assert sorted(p.name for p in (tmp_path / "big").glob("model*.safetensors")) == ["model.safetensors"]
    assert cc.weights_sha256(tmp_path / "big") != digest

    save_checkpoint(tmp_path / "big", model, config)
    (tmp_path / "big" / "model.3.safetensors").unlink()
    with pytest.raises(CheckpointError, match="model.3.safetensors is missing"):
        load_checkpoint(tmp_path / "big")
