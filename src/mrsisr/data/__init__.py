"""Data: the cohort format (NIfTI + JSON manifest), the in-silico phantom, resampling, and
the training Dataset. Import the submodule you need, e.g. ``mrsisr.data.cohort``."""
