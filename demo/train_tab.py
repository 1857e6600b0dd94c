"""Placeholder until this tab is built."""

import gradio as gr


def build(ctx) -> dict:
    gr.Markdown("This tab is being built.")
    return {}
