"""The shipped model file (package data) and its model card, ``MODEL_CARD.md``."""

from pathlib import Path

DEFAULT_MODEL = Path(__file__).resolve().parent / "mrsisr_full.safetensors"
"""The full model ``mrsisr predict`` and ``mrsisr demo`` use unless given another model file."""

SHIPPED_SHA256 = "cf8d65aa8145412c736ad768ef2f2be825524b09729dcd2bd492a8fdbab9ffa5"
"""SHA-256 of :data:`DEFAULT_MODEL`, checked by the tests; a new model changes it and the
model card together (``MODEL_CARD.md``, "File")."""
