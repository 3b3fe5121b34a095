"""Data of the product: the cohort format (NIfTI + JSON manifest), the one NIfTI reader and
writer, resampling, normalisation, the training Dataset, slices, fold splits, augmentation and
the cohort check. Nothing here simulates: the in-silico cohorts are :mod:`mrsisr.sim`.
Import the submodule you need, e.g. ``mrsisr.data.cohort``."""
