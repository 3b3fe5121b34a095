"""The shipped model file (package data) and its model card, ``MODEL_CARD.md``."""

from pathlib import Path

DEFAULT_MODEL = Path(__file__).resolve().parent / "mrsisr_full.safetensors"
"""The full model ``mrsisr predict`` and ``mrsisr demo`` use unless given another model file."""

SHIPPED_SHA256 = "c8e48679d48d429de132ec15c85dbc5bf7fade6c69cd8f5ee57f43e484bdaf97"
"""SHA-256 of :data:`DEFAULT_MODEL`, checked by the tests; a new model changes it and the
model card together (``MODEL_CARD.md``, "File")."""
