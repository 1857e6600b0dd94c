"""What the CNN Sees: the machine-learning library behind the app (no UI code here)."""
