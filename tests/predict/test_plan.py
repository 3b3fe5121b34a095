"""Planning predictions: file names, metabolites, the forms of ``mrsisr predict``."""

from __future__ import annotations

from pathlib import Path

import pytest

from mrsisr.cli import main
from mrsisr.errors import UserError
from mrsisr.predict.plan import output_name, parse_sharpness, plan_jobs


def test_output_names_of_several_sharpness_values() -> None:
    assert output_name(Path("a/sr_Gln.nii.gz"), 0.0) == Path("a/sr_Gln_lam0.nii.gz")
    assert output_name(Path("sr.nii"), 0.03) == Path("sr_lam0.03.nii")


def test_sharpness_values_keep_their_order_without_duplicates() -> None:
    assert parse_sharpness([0.03, 0.0, 0.03]) == (0.03, 0.0)
    assert parse_sharpness(None) == (0.0,)
    with pytest.raises(UserError, match=r"^sharpness: nan is not allowed"):
        parse_sharpness([float("nan")])


def test_a_refusal_names_the_parameter_from_python_and_the_flag_in_mrsisr_predict(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 22: a caller of plan_jobs has no --met or --from; mrsisr predict's user typed them."""
    met, manifest, out = tmp_path / "lr_Gln.nii.gz", tmp_path / "m.csv", tmp_path / "sr"
    with pytest.raises(UserError) as err:
        plan_jobs(
            met=[met], metabolites=None, t1=None, flair=None, mask=None, manifest=manifest, out=out
        )
    assert str(err.value) == "met: give one of met, manifest and source, not manifest"
    argv = ["predict", "--met", str(met), "--manifest", str(manifest), "--out", str(out)]
    assert main(argv) == 2
    assert capsys.readouterr().err == (
        "mrsisr predict: error: --met: give one of --met, --manifest and --from, not --manifest\n"
    )


def test_several_maps_of_one_patient_share_a_mask_file(tmp_path: Path) -> None:
    maps = [tmp_path / "lr_Gln.nii.gz", tmp_path / "lr_NAA.nii.gz"]
    jobs = plan_jobs(
        met=maps,
        metabolites=None,
        t1=tmp_path / "t1.nii.gz",
        flair=tmp_path / "flair.nii.gz",
        mask=None,
        manifest=None,
        out=tmp_path / "out",
        sharpness=[0.0, 0.03],
    )
    assert [j.metabolite.value for j in jobs] == ["Gln", "NAA"]
    assert {j.mask_out for j in jobs} == {tmp_path / "out" / "mask.nii.gz"}
    assert jobs[0].outputs == (
        tmp_path / "out" / "sr_Gln_lam0.nii.gz",
        tmp_path / "out" / "sr_Gln_lam0.03.nii.gz",
    )
