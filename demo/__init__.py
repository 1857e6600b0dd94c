"""The Gradio UI of What the CNN Sees: one module per tab, thin callbacks over core/."""
