"""mrsisr: multi-scale super-resolution of brain MRSI with adjustable sharpness.

The package imports nothing heavy at import time; import the submodules you need, e.g.
``mrsisr.kspace`` (k-space physics), ``mrsisr.nn`` (networks), ``mrsisr.data`` (cohorts).
"""

__version__ = "0.1.0"
"""The version, written only here: pyproject.toml reads it (``[tool.setuptools.dynamic]``)."""
