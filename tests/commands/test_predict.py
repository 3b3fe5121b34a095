"""``mrsisr predict`` end to end on files: geometry, data consistency, outputs, bad inputs."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch

from mrsisr import kspace
from mrsisr.cli import main
from mrsisr.inference import default_grid
from tiny_model import save

N_LR = (16, 12)  # rectangular acquisition
SLICES = 3
OUT = default_grid(N_LR, (6.0, 5.0))  # the default output grid of lr_affine(): 102 x 64


def lr_affine() -> np.ndarray:
    """An oblique, anisotropic MRSI grid (rotated 12 degrees in-plane)."""
    angle = np.deg2rad(12.0)
    affine = np.eye(4)
    affine[:3, :3] = np.array(
        [[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]]
    ) @ np.diag([6.0, 5.0, 8.0])
    affine[:3, 3] = [-40.0, -30.0, 10.0]
    return affine


def world_box(shape, affine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    corners = np.array(np.meshgrid(*[(-0.5, s - 0.5) for s in shape], indexing="ij"))
    points = affine[:3, :3] @ corners.reshape(3, -1) + affine[:3, 3:4]
    return points.min(axis=1), points.max(axis=1)


@pytest.fixture(scope="module")
def patient(tmp_path_factory) -> dict[str, Path]:
    """LR maps on an oblique grid; T1/FLAIR on a 2 mm LAS grid that covers them with margin."""
    folder = tmp_path_factory.mktemp("patient")
    rng = np.random.default_rng(0)
    affine = lr_affine()
    low, high = world_box((*N_LR, SLICES), affine)
    low, high = low - 10, high + 10
    shape = tuple(int(v) for v in np.ceil((high - low) / 2.0))
    anat = np.diag([-2.0, 2.0, 2.0, 1.0])  # LAS: x runs right to left
    anat[:3, 3] = [high[0], low[1], low[2]]
    vox = np.indices(shape).reshape(3, -1)
    world = (anat[:3, :3] @ vox + anat[:3, 3:4]).reshape(3, *shape)
    centre = (low + high) / 2
    radii = (high - low) / 2 - 12
    head = sum(((world[i] - centre[i]) / radii[i]) ** 2 for i in range(3)) <= 1
    t1 = head * (1.0 + 0.1 * rng.random(shape))
    files = {
        "t1": save(folder / "t1.nii.gz", t1, anat),
        "flair": save(folder / "flair.nii.gz", 0.7 * t1, anat),
        "mask": save(folder / "mask.nii.gz", head, anat),
    }
    for met in ("Gln", "Glu"):
        files[met] = save(folder / f"lr_{met}.nii.gz", rng.uniform(1, 4, (*N_LR, SLICES)), affine)
    return files


def predict(model: Path, *args: str | Path) -> int:
    return main(["predict", "--model", str(model), "--device", "cpu", *map(str, args)])


def one_map(patient: dict[str, Path], out: Path, *extra: str | Path) -> list[str | Path]:
    return [
        "--met",
        patient["Gln"],
        "--metabolite",
        "Gln",
        "--t1",
        patient["t1"],
        "--flair",
        patient["flair"],
        "--out",
        out,
        *extra,
    ]


def two_maps(patient: dict[str, Path], out: Path, *extra: str | Path) -> list[str | Path]:
    """The Gln and Glu maps of ``patient`` with its T1 and FLAIR, into the folder ``out``."""
    met = ["--met", patient["Gln"], patient["Glu"]]
    return [*met, "--t1", patient["t1"], "--flair", patient["flair"], "--out", out, *extra]


@pytest.mark.slow
def test_output_geometry_in_nibabel(model_file, patient, tmp_path) -> None:
    out = tmp_path / "sr_Gln.nii.gz"
    assert predict(model_file, *one_map(patient, out)) == 0
    img = nib.load(str(out))
    assert OUT == (102, 64) and img.shape == (*OUT, SLICES)
    expected = kspace.lowres_affine(lr_affine(), N_LR, OUT)
    np.testing.assert_allclose(img.affine, expected, atol=1e-4)
    # Same field of view (N output voxels span n input voxels), same slices, and input voxel
    # n//2 and output voxel N//2 are the same point (centred-FFT convention).
    fov_out = np.linalg.norm(img.affine[:3, :2], axis=0) * OUT
    np.testing.assert_allclose(fov_out, np.linalg.norm(lr_affine()[:3, :2], axis=0) * N_LR)
    np.testing.assert_allclose(img.affine[:3, 2], lr_affine()[:3, 2], atol=1e-5)
    centre = [N_LR[0] // 2, N_LR[1] // 2, 1, 1]
    np.testing.assert_allclose(
        img.affine @ [OUT[0] // 2, OUT[1] // 2, 1, 1], lr_affine() @ centre, atol=1e-4
    )
    assert int(img.header["sform_code"]) == int(img.header["qform_code"]) == 1
    np.testing.assert_allclose(img.header.get_qform(), img.header.get_sform(), atol=1e-4)


@pytest.mark.slow
def test_output_geometry_in_simpleitk(model_file, patient, tmp_path) -> None:
    import SimpleITK as sitk

    out = tmp_path / "sr_Gln.nii.gz"
    assert predict(model_file, *one_map(patient, out)) == 0
    nib_img = nib.load(str(out))
    itk = sitk.ReadImage(str(out))
    ras_to_lps = np.diag([-1.0, -1.0, 1.0])
    affine = nib_img.affine
    spacing = np.linalg.norm(affine[:3, :3], axis=0)
    np.testing.assert_allclose(itk.GetSpacing(), spacing, atol=1e-4)
    np.testing.assert_allclose(itk.GetOrigin(), ras_to_lps @ affine[:3, 3], atol=1e-4)
    direction = np.array(itk.GetDirection()).reshape(3, 3)
    np.testing.assert_allclose(direction, ras_to_lps @ affine[:3, :3] / spacing, atol=1e-5)
    # Same voxels: SimpleITK's array is (z, y, x).
    np.testing.assert_allclose(sitk.GetArrayFromImage(itk).transpose(2, 1, 0), nib_img.get_fdata())
    # A voxel's physical point agrees with the affine (LPS vs RAS).
    index = (5, 7, 2)
    point = itk.TransformIndexToPhysicalPoint(index)
    np.testing.assert_allclose(point, ras_to_lps @ (affine @ [*index, 1])[:3], atol=1e-3)


@pytest.mark.slow
def test_output_file_is_data_consistent_and_mask_is_written(
    model_file, patient, tmp_path, caplog
) -> None:
    out = tmp_path / "sr_Gln.nii.gz"
    with caplog.at_level("INFO"):
        assert predict(model_file, *one_map(patient, out)) == 0
    assert "brain mask derived from T1 and FLAIR" in caplog.text  # the log says which mask
    sr = nib.load(str(out)).get_fdata()
    lr = nib.load(str(patient["Gln"])).get_fdata()
    back = kspace.degrade(np.moveaxis(sr, 2, 0), N_LR)
    np.testing.assert_allclose(back, np.moveaxis(lr, 2, 0), atol=2e-6 * np.abs(lr).max())
    mask_img = nib.load(str(tmp_path / "sr_Gln_mask.nii.gz"))
    mask = np.asarray(mask_img.dataobj)
    assert mask_img.get_data_dtype() == np.uint8 and set(np.unique(mask)) <= {0, 1}
    assert 0 < mask.sum() < mask.size
    np.testing.assert_allclose(mask_img.affine, nib.load(str(out)).affine)


@pytest.mark.slow
def test_several_sharpness_values_give_one_file_each_or_a_stack(model_file, patient, tmp_path):
    out = tmp_path / "sr_Gln.nii.gz"
    raw = ("--calibration", "none")  # the tiny model's detail would be calibrated away
    assert predict(model_file, *one_map(patient, out, "--sharpness", "0", "0.03", *raw)) == 0
    first = nib.load(str(tmp_path / "sr_Gln_lam0.nii.gz")).get_fdata()
    second = nib.load(str(tmp_path / "sr_Gln_lam0.03.nii.gz")).get_fdata()
    assert not out.exists()
    assert np.abs(first - second).max() > 1e-4  # λ changes the map ...
    lr = np.moveaxis(nib.load(str(patient["Gln"])).get_fdata(), 2, 0)
    for volume in (first, second):  # ... but never its measured k-space
        back = kspace.degrade(np.moveaxis(volume, 2, 0), N_LR)
        np.testing.assert_allclose(back, lr, atol=2e-6 * np.abs(lr).max())
    stacked = tmp_path / "stack.nii.gz"
    args = one_map(patient, stacked, "--sharpness", "0", "0.03", "--stack", *raw)
    assert predict(model_file, *args) == 0
    stack = nib.load(str(stacked)).get_fdata()
    assert stack.shape == (*OUT, SLICES, 2)
    np.testing.assert_allclose(stack[..., 0], first, atol=1e-6)
    np.testing.assert_allclose(stack[..., 1], second, atol=1e-6)


@pytest.mark.slow
def test_several_maps_to_a_directory_with_a_given_mask(model_file, patient, tmp_path, capsys):
    out = tmp_path / "out"
    assert predict(model_file, *two_maps(patient, out, "--mask", patient["mask"])) == 0
    written = {Path(line).name for line in capsys.readouterr().out.split()}
    assert written == {
        "sr_Gln.nii.gz",
        "sr_Glu.nii.gz",
        "mask.nii.gz",
        "sr_Gln.json",
        "sr_Glu.json",
    }
    assert sorted(p.name for p in out.iterdir()) == sorted(written)


@pytest.mark.slow
def test_manifest_of_a_cohort(model_file, patient, tmp_path) -> None:
    folder = patient["t1"].parent
    rows = ["patient,metabolite,met,t1,flair,mask"]
    for pid, mask in (("p01", "mask.nii.gz"), ("p02", "")):
        for met in ("Gln", "Glu"):
            rows.append(f"{pid},{met},{folder}/lr_{met}.nii.gz,t1.nii.gz,flair.nii.gz,{mask}")
    manifest = folder / "batch.csv"
    manifest.write_text("\n".join(rows) + "\n")
    out = tmp_path / "cohort_out"
    assert predict(model_file, "--manifest", manifest, "--out", out) == 0
    for pid in ("p01", "p02"):
        names = sorted(p.name for p in (out / pid).iterdir())
        assert names == [
            "mask.nii.gz",
            "sr_Gln.json",
            "sr_Gln.nii.gz",
            "sr_Glu.json",
            "sr_Glu.nii.gz",
        ]
    # The same images: the same grid; p01's mask is its manifest's, p02's is derived from them.
    a = nib.load(str(out / "p01" / "sr_Gln.nii.gz")).get_fdata()
    b = nib.load(str(out / "p02" / "sr_Gln.nii.gz")).get_fdata()
    assert a.shape == b.shape == (*OUT, SLICES)
    given, derived = (
        json.loads((out / pid / "sr_Gln.json").read_text(encoding="utf-8"))["mask_source"]
        for pid in ("p01", "p02")
    )
    assert "mask.nii.gz" in given and "derived from T1 and FLAIR" in derived


@pytest.mark.slow
def test_existing_output_is_refused_unless_overwrite(model_file, patient, tmp_path, capsys):
    out = tmp_path / "sr.nii.gz"
    out.write_bytes(b"keep me")
    assert predict(model_file, *one_map(patient, out)) == 2
    err = capsys.readouterr().err
    assert str(out) in err and "--overwrite" in err
    assert out.read_bytes() == b"keep me"
    assert predict(model_file, *one_map(patient, out, "--overwrite")) == 0
    assert nib.load(str(out)).shape == (*OUT, SLICES)


@pytest.mark.slow
def test_no_partial_output_when_a_later_map_fails(model_file, patient, tmp_path, monkeypatch):
    from mrsisr.inference import Predictor

    calls = []
    original = Predictor.super_resolve

    def fail_second(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("simulated failure while computing")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Predictor, "super_resolve", fail_second)
    out = tmp_path / "new" / "dir"
    with pytest.raises(RuntimeError, match="simulated"):
        predict(model_file, *two_maps(patient, out))
    assert len(calls) == 2
    assert list(tmp_path.iterdir()) == []  # no file, no temporary, no folder left behind


@pytest.mark.slow
def test_every_input_file_is_read_once(model_file, patient, tmp_path, monkeypatch) -> None:
    """Checked, then super-resolved from that one reading: the maps, their SD maps, T1, FLAIR
    and the mask are each opened once (nibabel's reader counts), whatever the run uses."""
    sd = {
        met: save(tmp_path / f"sd_{met}.nii.gz", 0.1 * nib.load(patient[met]).get_fdata(),
                  lr_affine())
        for met in ("Gln", "Glu")
    }  # fmt: skip
    opened: list[str] = []
    load = nib.load

    def counted(path, *args, **kwargs):
        opened.append(str(path))
        return load(path, *args, **kwargs)

    monkeypatch.setattr(nib, "load", counted)
    extra = ["--mask", patient["mask"], "--grid", *OUT, "--uncertainty", "fit", "--draws", 2,
             "--sd", sd["Gln"], sd["Glu"], "--register"]  # fmt: skip
    assert predict(model_file, *two_maps(patient, tmp_path / "out", *extra)) == 0
    inputs = [patient[name] for name in ("Gln", "Glu", "t1", "flair", "mask")] + [*sd.values()]
    assert sorted(opened) == sorted(map(str, inputs))


def test_scans_of_other_jobs_are_refused_before_anything_is_written(
    model_file, patient, tmp_path
) -> None:
    from mrsisr.predict import load_predictor, plan_jobs, run_jobs
    from mrsisr.predict.checks import read_inputs

    def jobs(out: Path):
        images = {"t1": patient["t1"], "flair": patient["flair"], "mask": None}
        return plan_jobs(met=[patient["Gln"]], metabolites=None, manifest=None, out=out, **images)

    scans = read_inputs(jobs(tmp_path / "other" / "sr_Gln.nii.gz"))
    with pytest.raises(ValueError, match="read_inputs"):
        run_jobs(jobs(tmp_path / "sr_Gln.nii.gz"), load_predictor(model_file, "cpu"), scans=scans)
    assert list(tmp_path.iterdir()) == []


# --- bad inputs: one line naming the file, exit code 2, no output -------------------------


def expect_user_error(code: int, capsys, out_dir: Path, *names: str) -> str:
    captured = capsys.readouterr()
    assert code == 2
    lines = captured.err.strip().splitlines()
    assert lines[-1].startswith("mrsisr predict: error: ")
    assert "Traceback" not in captured.err
    for name in names:
        assert name in lines[-1]
    assert not any(p.is_file() for p in out_dir.rglob("*")), "partial output left behind"
    return lines[-1]


def test_bad_input_not_nifti(model_file, patient, tmp_path, capsys) -> None:
    bad = tmp_path / "lr_Gln.nii.gz"
    bad.write_text("not an image")
    args = one_map({**patient, "Gln": bad}, tmp_path / "out" / "sr.nii.gz")
    msg = expect_user_error(predict(model_file, *args), capsys, tmp_path / "out", str(bad))
    assert "NIfTI" in msg


@pytest.mark.parametrize("shape", [(16, 12), (16, 12, 3, 2)], ids=["2d", "4d"])
def test_bad_input_wrong_dimensions(model_file, patient, tmp_path, capsys, shape) -> None:
    bad = save(tmp_path / "lr_Gln.nii.gz", np.ones(shape), np.eye(4))
    args = one_map({**patient, "Gln": bad}, tmp_path / "out" / "sr.nii.gz")
    msg = expect_user_error(predict(model_file, *args), capsys, tmp_path / "out", str(bad))
    assert "3-D" in msg


def test_bad_input_nan(model_file, patient, tmp_path, capsys) -> None:
    data = np.ones((*N_LR, SLICES))
    data[3, 4, 1] = np.nan
    bad = save(tmp_path / "lr_Gln.nii.gz", data, lr_affine())
    args = one_map({**patient, "Gln": bad}, tmp_path / "out" / "sr.nii.gz")
    msg = expect_user_error(predict(model_file, *args), capsys, tmp_path / "out", str(bad))
    assert "NaN" in msg


def test_bad_input_map_larger_than_the_grid(model_file, patient, tmp_path, capsys) -> None:
    bad = save(tmp_path / "lr_Gln.nii.gz", np.ones((40, 12, SLICES)), lr_affine())
    args = one_map({**patient, "Gln": bad}, tmp_path / "out" / "sr.nii.gz", "--grid", 32, 32)
    msg = expect_user_error(predict(model_file, *args), capsys, tmp_path / "out", str(bad))
    assert "larger than the output grid (--grid) 32x32" in msg


def test_bad_input_t1_cuts_the_brain(model_file, patient, tmp_path, capsys) -> None:
    """A small bright T1 over part of the map: the brain derived from it fills its whole
    field of view, so the brain goes on beyond it."""
    small = np.diag([2.0, 2.0, 2.0, 1.0])
    bad = save(tmp_path / "t1_small.nii.gz", np.ones((10, 10, 10)), small)
    args = one_map({**patient, "t1": bad}, tmp_path / "out" / "sr.nii.gz")
    msg = expect_user_error(predict(model_file, *args), capsys, tmp_path / "out", str(bad))
    assert "part of the brain is not covered" in msg


def test_bad_input_t1_does_not_overlap_the_map(model_file, patient, tmp_path, capsys) -> None:
    far = np.diag([2.0, 2.0, 2.0, 1.0])
    far[:3, 3] = 500.0
    bad = save(tmp_path / "t1_far.nii.gz", np.ones((10, 10, 10)), far)
    args = one_map({**patient, "t1": bad}, tmp_path / "out" / "sr.nii.gz")
    msg = expect_user_error(predict(model_file, *args), capsys, tmp_path / "out", str(bad))
    assert "does not overlap the map" in msg


def test_bad_input_unknown_metabolite(model_file, patient, tmp_path, capsys) -> None:
    args = one_map(patient, tmp_path / "out" / "sr.nii.gz")
    args[args.index("Gln")] = "Lac"
    msg = expect_user_error(predict(model_file, *args), capsys, tmp_path / "out", "--metabolite")
    assert "'Lac'" in msg and "tCho" in msg and "Ins" in msg


def test_bad_model_file_not_ours(patient, tmp_path, capsys) -> None:
    from safetensors.torch import save_file

    foreign = tmp_path / "foreign.safetensors"
    save_file({"w": torch.zeros(2)}, str(foreign))
    code = predict(foreign, *one_map(patient, tmp_path / "out" / "sr.nii.gz"))
    msg = expect_user_error(code, capsys, tmp_path / "out", str(foreign))
    assert "not an mrsisr model" in msg


def test_bad_model_file_corrupted(model_file, patient, tmp_path, capsys) -> None:
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(model_file.read_bytes()[:-200])
    code = predict(broken, *one_map(patient, tmp_path / "out" / "sr.nii.gz"))
    expect_user_error(code, capsys, tmp_path / "out", str(broken))


def test_missing_shipped_weights_give_a_clear_error(patient, tmp_path, capsys, monkeypatch):
    import mrsisr.predict.checks as checks_module

    monkeypatch.setattr(checks_module, "DEFAULT_MODEL", tmp_path / "absent.safetensors")
    code = main(["predict", *map(str, one_map(patient, tmp_path / "out" / "sr.nii.gz"))])
    msg = expect_user_error(code, capsys, tmp_path / "out", "absent.safetensors")
    assert "--model" in msg


def test_bad_sharpness_is_refused(model_file, patient, tmp_path, capsys) -> None:
    args = one_map(patient, tmp_path / "out" / "sr.nii.gz", "--sharpness", "-0.1")
    msg = expect_user_error(predict(model_file, *args), capsys, tmp_path / "out", "--sharpness")
    assert ">= 0" in msg


def test_python_example_of_the_docs_runs(model_file, patient, tmp_path, monkeypatch) -> None:
    """The "From Python" block of docs/predict.md, run as written."""
    import shutil

    doc = Path(__file__).resolve().parents[2] / "docs" / "predict.md"
    text = doc.read_text(encoding="utf-8")
    code = text.split("## From Python", 1)[1].split("```python", 1)[1].split("```", 1)[0]
    shutil.copy(model_file, tmp_path / "model.safetensors")
    for name in ("t1", "flair", "Gln"):
        target = "lr_Gln.nii.gz" if name == "Gln" else f"{name}.nii.gz"
        shutil.copy(patient[name], tmp_path / target)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(code, str(doc), "exec"), namespace)
    assert namespace["maps"].shape == (2, *OUT, SLICES)


def test_bad_input_map_too_small(model_file, patient, tmp_path, capsys) -> None:
    bad = save(tmp_path / "lr_Gln.nii.gz", np.ones((1, 12, SLICES)), lr_affine())
    args = one_map({**patient, "Gln": bad}, tmp_path / "out" / "sr.nii.gz")
    msg = expect_user_error(predict(model_file, *args), capsys, tmp_path / "out", str(bad))
    assert "too small" in msg


def test_bad_input_blank_anatomy_without_a_mask(model_file, patient, tmp_path, capsys) -> None:
    src = nib.load(str(patient["t1"]))
    blank = save(tmp_path / "blank.nii.gz", np.ones(src.shape), src.affine)
    args = one_map({**patient, "t1": blank, "flair": blank}, tmp_path / "out" / "sr.nii.gz")
    msg = expect_user_error(predict(model_file, *args), capsys, tmp_path / "out", str(blank))
    assert "--mask" in msg


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on a machine without CUDA")
def test_cuda_without_a_gpu_is_a_user_error(model_file, patient, tmp_path, capsys) -> None:
    args = ["predict", "--model", str(model_file), "--device", "cuda"]
    code = main([*args, *map(str, one_map(patient, tmp_path / "out" / "sr.nii.gz"))])
    assert "CUDA is not available" in expect_user_error(code, capsys, tmp_path, "--device")


def test_bad_thread_count_is_refused(model_file, patient, tmp_path, capsys) -> None:
    args = one_map(patient, tmp_path / "out" / "sr.nii.gz", "--threads", "0")
    assert ">= 1" in expect_user_error(predict(model_file, *args), capsys, tmp_path, "--threads")
