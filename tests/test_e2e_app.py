"""The running app driven through gradio_client, as another program (or a kiosk script) would."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.browser_support import running_app

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def photo(tmp_path_factory) -> Path:
    from tests.fixtures import shape_image

    path = tmp_path_factory.mktemp("e2e") / "square.png"
    shape_image("square", 200, np.random.default_rng(5)).save(path)
    return path


def call_explore(client, image, model, target="", compare=""):
    from gradio_client import handle_file

    return client.predict(handle_file(str(image)), model, "gradcam", target, "", 0.5, compare, api_name="/explore")


def test_upload_through_the_api_returns_labels_and_a_heatmap(tiny_checkpoint, photo, tmp_path):
    from gradio_client import Client

    with running_app(tiny_checkpoint.parent, runs_dir=tmp_path / "runs") as url:
        client = Client(url, verbose=False)
        top, heatmap, caption, top_b, heatmap_b, caption_b = call_explore(client, photo, str(tiny_checkpoint))
        assert top["label"] in {"circle", "cross", "square", "triangle"}
        assert len(top["confidences"]) == 4
        assert sum(c["confidence"] for c in top["confidences"]) == pytest.approx(1.0, abs=1e-3)
        heat = np.asarray(Image.open(heatmap))
        assert heat.shape[2] == 3 and heat.shape[0] == heat.shape[1] >= 100
        assert heat.std() > 5  # a coloured map, not a blank image
        assert "Grad-CAM" in caption and not top_b and heatmap_b is None

        # "why not X?" and a side-by-side comparison through the same endpoint
        _, _, caption, top_b, heatmap_b, _ = call_explore(client, photo, str(tiny_checkpoint), "circle",
                                                          str(tiny_checkpoint))
        assert "circle" in caption and top_b["label"] == top["label"] and Path(heatmap_b).is_file()

        # a file that is not an image gets a message, not an error
        bad = tmp_path / "notes.txt"
        bad.write_text("hello")
        top, heatmap, caption, *_ = call_explore(client, bad, str(tiny_checkpoint))
        assert not top and heatmap is None and "not an image" in caption


def test_app_without_models_answers_with_advice(tmp_path, photo):
    from gradio_client import Client

    with running_app(tmp_path / "empty", runs_dir=tmp_path / "runs") as url:
        top, heatmap, caption, *_ = call_explore(Client(url, verbose=False), photo, None)
        assert not top and "No trained model found" in caption


def test_every_public_endpoint_says_what_it_does_and_plumbing_is_hidden(tiny_checkpoint, tmp_path):
    from gradio_client import Client

    with running_app(tiny_checkpoint.parent, runs_dir=tmp_path / "runs", allow_training=True) as url:
        api = Client(url, verbose=False).view_api(print_info=False, return_format="dict")
    named = {name.lstrip("/") for name in api["named_endpoints"]}
    assert not [n for n in named | set(map(str, api["unnamed_endpoints"])) if n.lstrip("/").startswith("lambda")]
    assert {"explore", "live_frame", "live_stream", "evaluate", "feature_maps", "teach", "start_training"} <= named
    # events that only keep the page in step (menus, the timer, gallery clicks) are not offered to scripts
    assert not named & {"on_tick", "on_model", "pick_sample", "pick_map", "clamp_channel", "on_frame", "_freeze"}
