"""The shipped model file (package data) and its model card, ``MODEL_CARD.md``."""

from pathlib import Path

DEFAULT_MODEL = Path(__file__).resolve().parent / "mrsisr_full.safetensors"
"""The full model ``mrsisr predict`` and ``mrsisr demo`` use unless given another model file."""

SHIPPED_SHA256 = "ad60840b75d2902b1cb5f9c400a4130aad32337997afa2fa574dd7b4e9fdbdd4"
"""SHA-256 of :data:`DEFAULT_MODEL`, checked by the tests; a new model changes it and the
model card together (``MODEL_CARD.md``, "File")."""
