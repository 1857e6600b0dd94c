import json


def test_tiny_checkpoint_beats_chance_on_validation(tiny_checkpoint):
    metrics = json.loads((tiny_checkpoint / "metrics.json").read_text())
    assert metrics["val"]["top1"] > 0.5  # 4 classes: chance is 0.25
