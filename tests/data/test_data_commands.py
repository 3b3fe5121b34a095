"""``mrsisr phantom`` and ``mrsisr cohort check``: exit codes, output lines, no partial files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from cohort_helpers import mrsi_affine

from mrsisr.cli import main
from mrsisr.data.nifti import save_volume


def test_cohort_check_passes_a_valid_cohort(synthetic_cohort: Path, capsys) -> None:
    assert main(["cohort", "check", str(synthetic_cohort)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1 and "OK: 2 patients, 2 metabolites" in lines[0]
    assert "grid 8x7x3" in lines[0]


def test_cohort_check_lists_one_line_per_problem(synthetic_cohort: Path, capsys) -> None:
    (synthetic_cohort / "A01" / "flair.nii.gz").unlink()
    save_volume(synthetic_cohort / "A02" / "mask.nii.gz", np.zeros((8, 7, 3)), mrsi_affine())
    assert main(["cohort", "check", str(synthetic_cohort)]) == 2
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2
    assert lines[0].endswith("A01/flair.nii.gz: missing file")
    assert "A02/mask.nii.gz: empty mask" in lines[1]


def test_cohort_check_of_a_missing_folder(tmp_path: Path, capsys) -> None:
    assert main(["cohort", "check", str(tmp_path / "none")]) == 2
    assert "not a directory" in capsys.readouterr().out


@pytest.mark.slow
def test_phantom_writes_a_valid_cohort_and_a_preview(tmp_path: Path, capsys) -> None:
    out, png = tmp_path / "c", tmp_path / "preview.png"
    args = ["--patients", "1", "--grid", "32", "--slices", "4", "--workers", "1"]
    assert main(["phantom", "--out", str(out), *args, "--preview", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["cohort", "check", str(out)]) == 0
    # An existing cohort: refused without --force (the library's ``overwrite``, named by the
    # command's flag), previewed with --cohort.
    assert main(["phantom", "--out", str(out), *args]) == 2
    assert "exists and is not empty; choose a new folder --force replaces a cohort" in (
        capsys.readouterr().err
    )
    png.unlink()
    assert main(["phantom", "--cohort", str(out), "--preview", str(png), "--slice", "1"]) == 0
    assert png.is_file()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--grid", "4"], "--grid"),
        (["--patients", "0"], "--patients"),
        (["--slices", "0"], "--slices"),
        (["--preview", "x.jpg"], "--preview"),
    ],
)
def test_phantom_bad_arguments_exit_2_without_output(
    tmp_path: Path, capsys, args: list[str], message: str
) -> None:
    assert main(["phantom", "--out", str(tmp_path / "c"), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err
    assert list(tmp_path.iterdir()) == []


def test_phantom_preview_needs_a_png_and_a_known_patient(synthetic_cohort: Path, capsys) -> None:
    assert main(["phantom", "--cohort", str(synthetic_cohort)]) == 2
    png = synthetic_cohort.parent / "p.png"
    assert main(["phantom", "--cohort", str(synthetic_cohort), "--preview", str(png),
                 "--patient", "nobody"]) == 2  # fmt: skip
    assert "--patient" in capsys.readouterr().err and not png.exists()


@pytest.mark.slow
def test_phantom_preview_of_several_patients_has_one_row_each(synthetic_cohort: Path) -> None:
    from PIL import Image

    png = synthetic_cohort.parent / "two.png"
    base = ["phantom", "--cohort", str(synthetic_cohort), "--preview", str(png)]
    assert main([*base, "--patient", "A01", "nobody"]) == 2 and not png.exists()
    assert main([*base, "--patient", "A01", "A02", "--slice", "1"]) == 0
    # T1, mask, tCho and NAA (the cohort's maps among those shown) for two patients, 60 dpi
    assert Image.open(png).size == (4 * 132, 2 * 132)
