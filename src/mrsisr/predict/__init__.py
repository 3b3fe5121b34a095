"""Super-resolve NIfTI files: the library behind ``mrsisr predict`` and ``mrsisr demo``.

A prediction runs in four steps, one module each, each input file read once; :mod:`mrsisr.
inference` holds the numerical core (one volume in memory), this package everything about
files:

1. :mod:`~mrsisr.predict.plan`: arguments → :class:`Job` s (what to super-resolve, where each
   result goes); reads no image.
2. :mod:`~mrsisr.predict.checks`: every output checked, every input file read once and
   checked into an in-memory :class:`~mrsisr.predict.checks.PatientScan` per patient
   (:func:`~mrsisr.predict.checks.read_inputs`), before any compute.
3. :mod:`~mrsisr.predict.run`: :func:`load_predictor`, then :func:`run_jobs` super-resolves
   each patient from its scan (reading the scans first unless given them) and commits; it
   opens no input file.
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
from mrsisr.predict.run import adaptation_scans, load_predictor, run_jobs

__all__ = [
    "Job",
    "adaptation_scans",
    "load_predictor",
    "parse_sharpness",
    "plan_jobs",
    "report_paths",
    "run_jobs",
]
