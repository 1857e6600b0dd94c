"""What the CNN Sees: ``python app.py`` starts the exhibition app (the UI lives in demo/, the ML in core/)."""

from __future__ import annotations

import argparse
import os
import signal
import sys

from core.checkpoint import CHECKPOINTS_DIR


def main(argv: list[str] | None = None) -> None:
    # Gradio and torch are imported here, not at the top: training jobs run in spawned processes that re-import
    # this file as their main module, and they need neither.
    import torch

    from demo.common import MAX_UPLOAD_MB, RUNS_DIR
    from demo.ui import build_app

    on_spaces = bool(os.environ.get("SPACE_ID"))  # Hugging Face Spaces sets SPACE_ID
    parser = argparse.ArgumentParser(description="Start the What the CNN Sees app.")
    parser.add_argument("--host", default="0.0.0.0" if on_spaces else "127.0.0.1", help="address to bind")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", 7860)))
    parser.add_argument("--share", action="store_true", help="ask Gradio for a public link (needs internet)")
    parser.add_argument("--checkpoint-dir", default=str(CHECKPOINTS_DIR), help="folder of checkpoint folders")
    parser.add_argument("--runs-dir", default=str(RUNS_DIR), help="where fine-tuned and taught models are written")
    parser.add_argument("--no-training", action="store_true",
                        help="hide the Train tab (public hosting); also set by WTCS_NO_TRAINING=1")
    parser.add_argument("--threads", type=int, default=int(os.environ.get("WTCS_TORCH_THREADS", 1)),
                        help="torch threads per request (default 1: requests are single small images and run two "
                             "at a time, so more threads only fight over the cores)")
    args = parser.parse_args(argv)
    torch.set_num_threads(max(1, args.threads))
    allow_training = not (args.no_training or os.environ.get("WTCS_NO_TRAINING", "") not in ("", "0"))
    app = build_app(args.checkpoint_dir, allow_training=allow_training, runs_dir=args.runs_dir, precompute=True)
    # A stop from the host (SIGTERM) ends the app the way Ctrl-C does, through its exit handlers, which end a
    # running training job and remove its working folder (a job also ends on its own within a second of the app).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    # Two CPU cores serve everyone: two events at a time, the rest wait in Gradio's queue.
    app.queue(default_concurrency_limit=2).launch(server_name=args.host, server_port=args.port, share=args.share,
                                                  max_file_size=f"{MAX_UPLOAD_MB}mb")


if __name__ == "__main__":
    main()
