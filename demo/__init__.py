"""The Gradio UI of What the CNN Sees: one module per tab, thin callbacks over core/."""

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no telemetry calls: the app must run offline
