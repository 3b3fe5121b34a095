"""Super-resolve NIfTI files: the library behind ``mrsisr predict`` and ``mrsisr demo``.

A prediction runs in four steps, one module each; :mod:`mrsisr.inference` holds the
numerical core (one volume in memory), this package everything about files:

1. :mod:`~mrsisr.predict.plan`: arguments → :class:`Job` s (what to super-resolve, where each
   result goes); reads no image.
2. :mod:`~mrsisr.predict.checks`: every input and output of every job checked before any
   compute.
3. :mod:`~mrsisr.predict.run`: :func:`load_predictor`, then :func:`run_jobs` checks,
   super-resolves and commits.
4. :mod:`~mrsisr.predict.outputs`: the files each job writes, all through one
   :class:`mrsisr.atomic.FileTransaction` (every output or none).

Example::

    jobs = plan_jobs(met=[Path("lr_Gln.nii.gz")], metabolites=None, t1=Path("t1.nii.gz"),
                     flair=Path("flair.nii.gz"), mask=None, manifest=None,
                     out=Path("sr_Gln.nii.gz"))
    written = run_jobs(jobs, load_predictor(None))
"""

from __future__ import annotations

from mrsisr.predict.plan import Job, parse_sharpness, plan_jobs, report_paths
from mrsisr.predict.run import load_predictor, read_scans, run_jobs

__all__ = [
    "Job",
    "load_predictor",
    "parse_sharpness",
    "plan_jobs",
    "read_scans",
    "report_paths",
    "run_jobs",
]
