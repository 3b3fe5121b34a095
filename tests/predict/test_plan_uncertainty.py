"""Planning the uncertainty of jobs: the SD map of each map, from wherever it comes."""

from __future__ import annotations

from dataclasses import replace

import pytest
from test_outputs import a_job

from mrsisr.commands.predict import FLAGS
from mrsisr.errors import UserError, flags
from mrsisr.pipelines import MapRecord
from mrsisr.predict.plan import _with_uncertainty


def test_fit_uses_a_pipeline_s_own_sd_maps(tmp_path):
    """A pipeline's folder: the SD map the pipeline wrote for each map (here FSL-MRS
    uncertainties/)."""
    job = a_job(tmp_path)
    record = MapRecord.__new__(MapRecord)
    object.__setattr__(record, "sd", tmp_path / "uncertainties" / "PCho+GPC_sd.nii.gz")
    (fit,) = _with_uncertainty([replace(job, source=record)], "fit", None, "source")
    assert fit.sd == record.sd and fit.uncertainty == "fit"
    out = tmp_path / "out"
    assert fit.sd_outputs == (out / "sr_tCho_lam0_sd.nii.gz", out / "sr_tCho_lam0.03_sd.nii.gz")
    (tta,) = _with_uncertainty([replace(job, source=record)], "tta", None, "source")
    assert tta.sd is None and tta.uncertainty == "tta"
    with pytest.raises(UserError, match="; source found no SD map"):
        _with_uncertainty([job], "fit", None, "source")
    with pytest.raises(UserError, match=r"^sd: only with met \(with source, "):
        _with_uncertainty([job], "fit", [tmp_path / "x.nii.gz"], "source")
    with flags(FLAGS):  # as mrsisr predict says it
        with pytest.raises(UserError, match="; --from found no SD map"):
            _with_uncertainty([job], "fit", None, "source")
        with pytest.raises(UserError, match=r"^--sd: only with --met \(with --from, "):
            _with_uncertainty([job], "fit", [tmp_path / "x.nii.gz"], "source")
