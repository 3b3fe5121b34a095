"""Fixtures of the command tests: ``model_file``, a tiny model (tests/tiny_model.py)."""

from tiny_model import model_file

__all__ = ["model_file"]
