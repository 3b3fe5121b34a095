"""The shipped model file (package data) and its model card, ``MODEL_CARD.md``."""

from pathlib import Path

DEFAULT_MODEL = Path(__file__).resolve().parent / "mrsisr_full.safetensors"
"""The full model ``mrsisr predict`` and ``mrsisr demo`` use unless given another model file."""

SHIPPED_SHA256 = "c033e3cf395311faa65af3136bf7f01939c95a8e4ec006f67ec7982fb94c36e4"
"""SHA-256 of :data:`DEFAULT_MODEL`, checked by the tests; a new model changes it and the
model card together (``MODEL_CARD.md``, "File")."""
