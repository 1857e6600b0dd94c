"""What every tab shares: the app's context (models, folders, shared components), the message a visitor sees for an
error, and the photo input. Every tab imports this module; demo.ui imports the tabs."""

from __future__ import annotations

import base64
import binascii
import logging
import math
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import gradio as gr

from core.checkpoint import CHECKPOINTS_DIR, Checkpoint, CheckpointStore
from core.data import DATA_DIR
from core.errors import CheckpointError, UserError

log = logging.getLogger("wtcs.ui")

RUNS_DIR = Path(os.environ.get("WTCS_RUNS_DIR", CHECKPOINTS_DIR.parent / "runs"))
MAX_UPLOAD_MB = int(os.environ.get("WTCS_MAX_UPLOAD_MB", 200))
MAX_INLINE_IMAGE_CHARS = 40 * 1024**2  # an image sent inline (base64 in the request) up to ~30 MB
# The model the app opens with: pretrained on ImageNet at full resolution, it names real things in front of a webcam.
DEFAULT_MODEL = os.environ.get("WTCS_DEFAULT_MODEL", "imagenet-mobilenetv2")


@dataclass
class AppContext:
    """What every tab needs: where models and data are, what visitors may do, and shared components."""

    store: CheckpointStore
    runs_dir: Path = RUNS_DIR
    data_dir: Path = DATA_DIR
    allow_training: bool = True
    max_upload_mb: int = MAX_UPLOAD_MB
    preferred_model: str = DEFAULT_MODEL  # the folder name of the model the app opens with, when it is there
    model: gr.Dropdown | None = None  # the shared model selector (created by build_app, above the tabs)
    tabs: gr.Tabs | None = None
    parts: dict[str, dict] = field(default_factory=dict)  # tab id -> the components build() returned

    def default_model(self) -> str | None:
        """The preferred model when it is there, else the first checkpoint found (None when there is none)."""
        paths = self.store.paths()
        preferred = [p for p in paths if p.name == self.preferred_model]
        return str((preferred or paths)[0]) if paths else None

    def model_choices(self) -> list[tuple[str, str]]:
        """(label, path) pairs for the model selector, the preferred model first."""
        choices = self.store.choices()
        return sorted(choices, key=lambda c: Path(c[1]).name != self.preferred_model)

    def checkpoint(self, path: str | None) -> Checkpoint:
        """The loaded checkpoint for a model-selector value. Raises CheckpointError with advice when there is
        none (no models found yet, or nothing selected)."""
        if not path:
            if not self.store.paths():
                raise CheckpointError(no_model_message(self))
            raise CheckpointError("choose a model in the Model menu at the top")
        return self.store.get(path)


def no_model_message(ctx: AppContext) -> str:
    where = " or ".join(f"the {d.name} folder" for d in ctx.store.dirs)  # names only: server paths stay private
    return (f"No trained model found in {where}. Train one (python -m core.train --help) or copy a checkpoint "
            "folder (config.json + model.safetensors) there, then reload the page.")


def user_message(err: Exception) -> str:
    """What to show a visitor for an exception: a UserError's own message (with server paths cut to their last
    part), else a generic line (the traceback goes to the server log, never to the page)."""
    if isinstance(err, UserError):
        return hide_paths(str(err))
    log.exception("unexpected error in a callback", exc_info=err)
    return f"Something went wrong ({type(err).__name__}); please try another image or model."


_SERVER_PATH = re.compile(r"(?<![\w.:/])/(?:[^\s/'\"`()]+/)+([^\s/'\"`()]*)")


def hide_paths(text: str) -> str:
    """``text`` with every absolute path reduced to its last part ("/srv/app/runs/my-model" -> "my-model"): the
    library's messages name files for the person at the console; a visitor needs the name, not the server's layout."""
    return _SERVER_PATH.sub(lambda m: m.group(1) or "a folder", text)


PRESENTER_HOSTS = ("127.0.0.1", "::1")  # a browser on the machine that runs the app: the presenter's


def job_owner(session: str | None, request: gr.Request | None) -> str | None:
    """Who a job started from this request belongs to: None for the presenter (a browser on the app's own machine),
    who may control every job, else the browser session's key (only that session may cancel it)."""
    host = getattr(getattr(request, "client", None), "host", None)
    return None if host in PRESENTER_HOSTS else session


def warn(err: Exception) -> None:
    """Show ``user_message(err)`` as a pop-up warning, for callbacks that leave their outputs as they were."""
    gr.Warning(user_message(err))


def _save_pil_to_cache_atomically(img, cache_dir: str, name: str = "image", format: str = "webp") -> str:
    """gradio.processing_utils.save_pil_to_cache, but the file is written under a temporary name and renamed into
    place, and not at all when it is already there.

    Gradio names an output image after the hash of its bytes and wrote it in place: two visitors with the same output
    at the same moment (a still camera, the same example photo) had one file truncated and rewritten while it was
    being sent to the other, whose download then broke ("peer closed connection"; 2 of 817 calls with 20 users).
    Gradio's own copy of files (save_file_to_cache) already works this way."""
    from gradio import processing_utils

    data = processing_utils.encode_pil_to_bytes(img, format)
    folder = Path(cache_dir) / processing_utils.hash_bytes(data)
    folder.mkdir(exist_ok=True, parents=True)
    target = (folder / f"{name}.{format}").resolve()
    if not target.exists():
        fd, staging = tempfile.mkstemp(dir=folder, prefix=f".{name}.")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(staging, target)
    return str(target)


def _use_atomic_image_cache() -> None:
    from gradio import processing_utils

    processing_utils.save_pil_to_cache = _save_pil_to_cache_atomically


_use_atomic_image_cache()


def finite_number(component: gr.Number | gr.Slider) -> gr.Number | gr.Slider:
    """``component`` (a gr.Number or gr.Slider), answering a value that is not a finite number with a message naming
    the field. A raw API call may send "abc", a list, NaN or Infinity, which Gradio's own preprocess passes on or
    fails on with a bare exception."""
    original = component.preprocess
    label = component.label or "the number"

    def preprocess(payload):
        if payload is not None:
            try:
                value = float(payload) if isinstance(payload, str) else payload
            except ValueError:
                value = None
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise gr.Error(f"{label} must be a finite number, not {str(payload)[:40]!r}", print_exception=False)
            payload = value
        return original(payload)

    component.preprocess = preprocess
    return component


def photo_input(**kwargs) -> gr.Image:
    """A gr.Image (type="filepath") that hands uploads to our own decoder untouched.

    gr.Image opens every upload with PIL before the callback runs, so a corrupt or non-image file would end
    in Gradio's generic error; here the callback gets the file path and core.data.open_image turns any
    problem into a clear ImageError message (and applies EXIF orientation itself). The instance's
    preprocess is replaced rather than subclassing gr.Image, because Gradio writes a .pyi stub next to the
    source file of every component subclass."""
    image = gr.Image(type="filepath", **kwargs)
    image.preprocess = photo_payload
    return image


def photo_payload(payload) -> str | bytes | None:
    """A gr.Image payload as the uploaded file's path, or the bytes of an inline (data:) image, never decoded here:
    core.data.open_image decodes it within its pixel cap (Gradio's own preprocess decodes any size first)."""
    if payload is None:
        return None
    url = str(getattr(payload, "url", None) or "")
    if url.startswith("data:"):
        if len(url) > MAX_INLINE_IMAGE_CHARS:
            raise gr.Error(f"the image is larger than {MAX_INLINE_IMAGE_CHARS * 3 // 4 // 1024**2} MB; send a smaller one",
                           print_exception=False)
        try:
            return base64.b64decode(url.partition(",")[2], validate=False)
        except (binascii.Error, ValueError) as err:
            raise gr.Error("the image data is not valid base64", print_exception=False) from err
    if getattr(payload, "path", None):
        return str(payload.path)
    return None
