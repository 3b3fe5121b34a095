"""The shipped model file (package data) and its model card, ``MODEL_CARD.md``."""

from pathlib import Path

DEFAULT_MODEL = Path(__file__).resolve().parent / "mrsisr_full.safetensors"
"""The full model used by ``mrsisr predict`` and ``mrsisr demo`` unless ``--model`` is given."""
