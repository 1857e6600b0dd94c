"""Bad input from a visitor or at the command line gets a message a person understands, never a traceback.

Each case goes through the running app's API (gradio_client against 127.0.0.1, the app in this process) or a
command line's main(); a message is expected (the answer itself, a pop-up warning, or the error Gradio sends), and
nothing may be logged as an unexpected error or print a traceback. After all the API cases the app still answers.
Two command lines also run as real subprocesses (exit code 2, a message on stderr, no traceback).
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
from PIL import Image

from core import evaluate, predict, train
from tests.browser_support import running_app
from tests.conftest import TINY_ARCH
from tests.fixtures import shape_image
from tests.test_safety import png_header_only

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent


# ---------------------------------------------------------------------------------------------------------------
# Files a hostile or careless visitor sends


@pytest.fixture(scope="module")
def files(tmp_path_factory, shapes_dir) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("bad")
    photo = d / "photo.png"
    shape_image("square", 96, np.random.default_rng(3)).save(photo)
    jpeg = d / "photo.jpg"
    Image.open(photo).save(jpeg)
    out = {"photo": photo, "text": d / "notes.txt", "empty": d / "empty.png", "pdf": d / "paper.pdf",
           "truncated": d / "truncated.png", "truncated_jpeg": d / "truncated.jpg", "bomb": d / "bomb.png",
           "over_cap": d / "over-cap.png", "zip": d / "shapes.zip", "private": d / "private-photos"}
    out["text"].write_text("hello")
    out["empty"].write_bytes(b"")
    out["pdf"].write_bytes(b"%PDF-1.4 not an image at all")
    out["truncated"].write_bytes(photo.read_bytes()[:200])
    out["truncated_jpeg"].write_bytes(jpeg.read_bytes()[:300])
    out["bomb"].write_bytes(png_header_only(30_000, 30_000))
    out["over_cap"].write_bytes(png_header_only(7_000, 7_000))
    with zipfile.ZipFile(out["zip"], "w") as zf:
        for f in sorted(shapes_dir.rglob("*.png")):
            zf.write(f, f.relative_to(shapes_dir))
    shutil.copytree(shapes_dir / "train", out["private"])  # a folder of photos outside the app's places
    return out


class Messages:
    """Pop-up warnings the app shows (gr.Warning), recorded from the server side of the in-process app."""

    def __init__(self):
        self.seen: list[str] = []

    def take(self) -> str:
        text, self.seen = " | ".join(self.seen), []
        return text


@pytest.fixture()
def warnings_shown(monkeypatch) -> Messages:
    messages = Messages()
    original = gr.Warning

    def record(message="", *args, **kwargs):
        messages.seen.append(str(message))
        return original(message, *args, **kwargs)

    monkeypatch.setattr(gr, "Warning", record)
    return messages


def raw_call(url: str, api: str, data_json: str) -> str:
    """Call ``api`` with a request body written by hand (JSON with NaN or Infinity, which gradio_client cannot send);
    returns the event stream's text (the answer or the error)."""
    import urllib.request

    request = urllib.request.Request(f"{url}gradio_api/call/{api}", data=f'{{"data": {data_json}}}'.encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        event_id = json.loads(response.read())["event_id"]
    with urllib.request.urlopen(f"{url}gradio_api/call/{api}/{event_id}", timeout=120) as response:
        return response.read().decode()


def answer_text(call) -> str:
    """The message a call produced: its answer, or the error the app sent back."""
    try:
        out = call()
    except Exception as err:  # noqa: BLE001 (gradio_client raises the app's error message)
        return f"error: {err}"
    return json.dumps(out, default=str)


# ---------------------------------------------------------------------------------------------------------------
# Through the API


def test_bad_inputs_through_the_api_get_messages_and_the_app_still_serves(tiny_checkpoint, files, tmp_path,
                                                                           warnings_shown, caplog, capfd):
    from gradio_client import Client, handle_file

    model = str(tiny_checkpoint)
    runs = tmp_path / "runs"
    caplog.set_level(logging.ERROR)
    with running_app(tiny_checkpoint.parent, runs_dir=runs, allow_training=True) as url:
        # answers are checked as sent (images not downloaded); a busy machine may take a while to answer
        client = Client(url, verbose=False, download_files=False, httpx_kwargs={"timeout": 120})

        def explore(image, **kw):
            args = dict(model=model, method="gradcam", target="", layer="", alpha=0.5, compare="")
            args.update(kw)
            return lambda: client.predict(handle_file(str(image)), *args.values(), api_name="/explore")

        def live(image):
            return lambda: client.predict(handle_file(str(image)), model, api_name="/live_frame")

        def evaluate_set(source, split="auto", tta=-1):
            return lambda: client.predict(model, source, split, tta, "classes", api_name="/evaluate")

        def start(**kw):
            knobs = dict(name="bad", base="", arch="resnet", dataset="@uploaded", upload=handle_file(str(files["zip"])),
                         optimizer="sgd", lr=0.1, schedule="onecycle", batch_size=16, epochs=1, wd=5e-4,
                         dropout="the model's own", smoothing=0.0, augment=["flip"], freeze=False, early_stop=0,
                         max_minutes=1.0)
            knobs.update(kw)
            return lambda: client.predict(*knobs.values(), api_name="/start_training")

        def raw_start(**kw):  # numbers written into the JSON as they are (NaN, Infinity), no upload
            knobs = dict(name='"bad"', base='""', arch='"resnet"', dataset='"@uploaded"', upload="null",
                         optimizer='"sgd"', lr="0.1", schedule='"onecycle"', batch_size="16", epochs="1", wd="0.0005",
                         dropout='"the model\'s own"', smoothing="0", augment='["flip"]', freeze="false",
                         early_stop="0", max_minutes="1", l1="0")
            knobs.update(kw)
            return lambda: raw_call(url, "start_training", "[" + ", ".join(knobs.values()) + "]")

        cases = [  # (what, call, words expected in the answer, error or warning)
            ("a text file as a photo", explore(files["text"]), "not an image"),
            ("an empty file", explore(files["empty"]), "empty"),
            ("a PDF", explore(files["pdf"]), "not an image"),
            ("a truncated PNG", explore(files["truncated"]), "corrupt or truncated"),
            ("a 30000x30000 PNG bomb", explore(files["bomb"]), "megapixels"),
            ("a PNG just over the cap", explore(files["over_cap"]), "megapixels"),
            ("an unknown CAM method", explore(files["photo"], method="nope"), "not in the list of choices"),
            ("an unknown model", explore(files["photo"], model="/etc"), "not in the list of choices"),
            ("an unknown layer", explore(files["photo"], layer="stage99"), "not in the list of choices"),
            ("an unknown target class", explore(files["photo"], target="zebra"), "not in the list of choices"),
            ("a word for the opacity", explore(files["photo"], alpha="abc"), "must be a finite number"),
            ("NaN for the opacity", lambda: raw_call(url, "explore", f'[null, "{model}", "gradcam", "", "", NaN, ""]'),
             "must be a finite number"),
            ("live: a text file", live(files["text"]), "not an image"),
            ("live: an empty file", live(files["empty"]), "empty"),
            ("live: a PDF", live(files["pdf"]), "not an image"),
            ("live: a PNG bomb", live(files["bomb"]), "megapixels"),
            ("live: a truncated JPEG", live(files["truncated_jpeg"]), "image"),
            ("evaluate /etc", evaluate_set("/etc"), "this app's own"),
            ("evaluate /etc/passwd", evaluate_set("/etc/passwd"), "this app's own"),
            ("evaluate /dev/zero", evaluate_set("/dev/zero"), "this app's own"),
            ("evaluate a 5,000-character path", evaluate_set("/" + "a" * 5000), "this app's own"),
            ("evaluate ../../etc", evaluate_set("../../etc"), "this app's own"),
            ("evaluate a private photo folder", evaluate_set(str(files["private"])), "this app's own"),
            ("evaluate a dataset that is not there", evaluate_set("no-such-dataset"), "no dataset"),
            ("evaluate with an unknown split", evaluate_set("", split="bogus"), "not in the list of choices"),
            ("evaluate with a word for tta", evaluate_set("", tta="abc"), "not in the list of choices"),
            ("train at learning rate NaN", raw_start(lr="NaN"), "must be a finite number"),
            ("train at learning rate Infinity", raw_start(lr="Infinity"), "must be a finite number"),
            ("train with a word for weight decay", start(wd="abc"), "must be a finite number"),
            ("train with smoothing NaN", raw_start(smoothing="NaN"), "must be a finite number"),
            ("train for Infinity minutes", raw_start(max_minutes="Infinity"), "must be a finite number"),
            ("train with L1 NaN", raw_start(l1="NaN"), "must be a finite number"),
            ("train with a negative L1", start(l1=-1), "L1 regularisation must be in"),
            ("train at learning rate 'NaN' (a string)", start(lr="NaN"), "must be a finite number"),
            ("train at batch size -3", start(batch_size=-3), "batch size must be between"),
            ("train for 0 epochs", start(epochs=0), "epochs must be at least 1"),
            ("train at learning rate 1e9", start(lr=1e9), "learning rate must be in"),
            ("train with dropout 'lots'", start(dropout="lots"), "dropout must be a number"),
            ("train on /etc", start(dataset="/etc"), "not in the list of choices"),
            ("train on a text file as the upload", start(upload=handle_file(str(files["text"]))), ".zip"),
            ("train without an upload", start(upload=None), "upload a .zip"),
            ("cancel with nothing running", lambda: client.predict(api_name="/cancel_training"), "nothing to cancel"),
            ("no class names", lambda: client.predict("", api_name="/set_class_names"), "class"),
            ("5,000 characters of class names", lambda: client.predict("x" * 5000, api_name="/set_class_names"),
             "class"),
            ("teach without snapshots", lambda: client.predict(model, "", False, api_name="/teach"), "class"),
            ("export without snapshots", lambda: client.predict(api_name="/export_snapshots"), "snapshot"),
        ]
        failed = []
        for what, call, words in cases:
            text = answer_text(call) + " | " + warnings_shown.take()
            if words.lower() not in text.lower() or "Traceback" in text or "Something went wrong" in text:
                failed.append(f"{what}: {text[:300]}")
        assert not failed, "\n".join(failed)
        assert len(cases) >= 40
        assert not list((runs / ".uploads").glob("*")), "a refused upload was kept"

        # the app still serves
        top, heatmap, caption, *_ = client.predict(handle_file(str(files["photo"])), model, "gradcam", "", "", 0.5,
                                                   "", api_name="/explore")
        assert top["label"] in {"circle", "cross", "square", "triangle"} and "Grad-CAM" in caption
    assert not [r for r in caplog.records if r.name == "wtcs.ui"], "an unexpected error was logged"
    # Gradio prints a traceback for its own refusals (a value not among a menu's choices, a file of the wrong type):
    # those say gradio.exceptions.Error; anything else is a failure of ours
    logged = capfd.readouterr().err.split("Traceback (most recent call last):")[1:]
    assert all("gradio.exceptions.Error: " in t for t in logged), [t[-300:] for t in logged if "gradio.exc" not in t]


def test_without_training_the_error_tab_has_no_path_box(tiny_checkpoint, tmp_path):
    from gradio_client import Client

    with running_app(tiny_checkpoint.parent, runs_dir=tmp_path / "runs", allow_training=False) as url:
        client = Client(url, verbose=False)
        api = client.view_api(return_format="dict", print_info=False)["named_endpoints"]
        assert [p["label"] for p in api["/evaluate"]["parameters"]] == ["Model", "Split", "Test-time augmentation",
                                                                        "Confusion matrix of"]
        assert "/start_training" not in api


# ---------------------------------------------------------------------------------------------------------------
# At the command line (main() in this process: an exception would fail the test; a message and exit code 2 pass)


def broken_checkpoint(src: Path, folder: Path, field: str, value) -> Path:
    shutil.copytree(src, folder)
    config = json.loads((folder / "config.json").read_text())
    config[field] = value
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def run_main(main, argv: list[str], capsys) -> tuple[int, str]:
    try:
        code = main(argv)
    except SystemExit as stop:  # argparse's own refusal
        code = stop.code
    return code, capsys.readouterr().err


def test_command_lines_answer_bad_input_with_a_message_and_exit_code_2(tiny_checkpoint, shapes_dir, files, tmp_path,
                                                                         capsys):
    ckpt, photo = str(tiny_checkpoint), str(files["photo"])
    out = str(tmp_path / "out" / "m")
    resume = tmp_path / "resumed" / "m"
    resume.parent.mkdir()
    (resume.parent / f".{resume.name}.resume.pt").write_bytes(b"PK\x03\x04 cut short by a kill")
    small = ["--data", str(shapes_dir), "--epochs", "1", "--arch-kwargs", json.dumps(TINY_ARCH)]
    cases = [
        (predict.main, ["--checkpoint", ckpt, "--k", "-3", photo], "--k must be at least 1"),
        (predict.main, ["--checkpoint", ckpt, str(files["bomb"])], "megapixels"),
        (predict.main, ["--checkpoint", ckpt, "/dev/zero"], "not a regular file"),
        (predict.main, ["--checkpoint", ckpt, str(files["text"])], "not an image"),
        (predict.main, ["--checkpoint", str(tmp_path / "nowhere"), photo], "no checkpoint folder"),
        (predict.main, ["--checkpoint", str(broken_checkpoint(tiny_checkpoint, tmp_path / "c1", "classes", 3)), photo],
         "'classes' should be"),
        (predict.main, ["--checkpoint", str(broken_checkpoint(tiny_checkpoint, tmp_path / "c2", "input_size", "32")),
                        photo], "'input_size' should be"),
        (predict.main, ["--checkpoint", str(broken_checkpoint(tiny_checkpoint, tmp_path / "c3", "temperature",
                                                              "warm")), photo], "'temperature' should be"),
        (predict.main, ["--checkpoint", str(broken_checkpoint(tiny_checkpoint, tmp_path / "c4", "mean", [])), photo],
         "'mean' should be"),
        (predict.main, ["--checkpoint", str(broken_checkpoint(tiny_checkpoint, tmp_path / "c5", "std", [0.2, 0, 0.2])),
                        photo], "'std' should be"),
        (predict.main, ["--checkpoint", str(broken_checkpoint(tiny_checkpoint, tmp_path / "c6", "temperature", 0)),
                        photo], "'temperature' should be"),
        (train.main, [*small, "--input-size", "100000", "--output-dir", out], "input size must be between"),
        (train.main, [*small, "--arch-kwargs", "[" * 100_000, "--output-dir", out], "--arch-kwargs is longer"),
        (train.main, [*small, "--arch-kwargs", '{"widths": [100000, 100000, 100000]}', "--output-dir", out],
         "parameters"),
        (train.main, [*small, "--init-from", str(tmp_path / "missing"), "--output-dir", out], "no checkpoint folder"),
        (train.main, [*small, "--resume", "--output-dir", str(resume)], "damaged or truncated"),
        (train.main, [*small, "--lr", "nan", "--output-dir", out], "learning rate must be a finite number"),
        (train.main, [*small, "--wd", "inf", "--output-dir", out], "weight decay must be a finite number"),
        (train.main, [*small, "--label-smoothing", "nan", "--output-dir", out], "label smoothing must be a finite"),
        (train.main, [*small, "--max-minutes", "inf", "--output-dir", out], "max minutes must be a finite number"),
        (train.main, [*small, "--epochs", "0", "--output-dir", out], "epochs must be at least 1"),
        (train.main, ["--data", str(tmp_path / "nowhere"), "--output-dir", out], "no dataset"),
        (evaluate.main, ["--checkpoint", ckpt, "--data", str(shapes_dir), "--batch-size", "0"], "--batch-size"),
        (evaluate.main, ["--checkpoint", ckpt, "--data", str(tmp_path / "nowhere")], "no dataset"),
    ]
    failed = []
    for main, argv, words in cases:
        code, err = run_main(main, argv, capsys)
        if code != 2 or words.lower() not in err.lower() or "Traceback" in err:
            failed.append(f"{main.__module__} {' '.join(a[:40] for a in argv)}: exit {code}, {err[-300:]!r}")
    assert not failed, "\n".join(failed)


@pytest.mark.parametrize("argv, words", [
    (["core.predict", "--checkpoint", "{ckpt}", "{bomb}"], "megapixels"),
    (["core.train", "--input-size", "100000", "--epochs", "1"], "input size must be between"),
])
def test_real_command_lines_exit_2_with_a_message_and_no_traceback(tiny_checkpoint, files, argv, words):
    argv = [a.format(ckpt=tiny_checkpoint, bomb=files["bomb"]) for a in argv]
    proc = subprocess.run([sys.executable, "-m", *argv], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          check=False)
    assert proc.returncode == 2 and words in proc.stderr and "Traceback" not in proc.stderr, proc.stderr[-500:]
