"""The report's contents without a browser: what it embeds, quantisation, size, errors."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from report_folder import GRID, LAMS, METS, SLICES

from mrsisr import kspace
from mrsisr.cli import main
from mrsisr.commands.report import FLAGS
from mrsisr.errors import UserError, flags
from mrsisr.report import write_report
from mrsisr.report.collect import read_predict_folder
from mrsisr.report.html import MapSeries, ReportData, Scale, quantise, render_html


def payload_of(page: str) -> dict:
    block = re.search(
        r'<script type="application/json" id="mrsisr-data">(.*?)</script>', page, re.S
    )
    return json.loads(block.group(1).replace("<\\/", "</"))


def levels(b64: str, shape) -> np.ndarray:
    return np.frombuffer(base64.b64decode(b64), np.uint8).reshape(shape)


def test_page_embeds_every_map_quantised_within_half_a_step(predict_folder):
    data = read_predict_folder(predict_folder.folder, t1=predict_folder.t1, units="mM")
    payload = payload_of(render_html(data))
    assert payload["shape"] == [*GRID, SLICES]
    assert [m["name"] for m in payload["maps"]] == sorted(METS)
    inside = predict_folder.mask
    for entry in payload["maps"]:
        met = entry["name"]
        assert entry["lams"] == list(LAMS)
        assert tuple(entry["n"]) == METS[met]
        for key, truth, scale in (
            ("sr", predict_folder.sr[met], entry["scale"]),
            ("sd", predict_folder.sd[met], entry["sd_scale"]),
        ):
            q = levels(entry[key], (len(LAMS), SLICES, *GRID))
            shown = scale["offset"] + q * scale["step"]
            truth = np.moveaxis(truth, -1, 1)  # (L, S, X, Y)
            unclipped = (q > 0) & (q < 255) & np.moveaxis(inside, -1, 0)[None]
            err = np.abs(shown - truth)[unclipped]
            assert unclipped.mean() > 0.5 * inside.mean()
            assert err.max() <= scale["step"] / 2 + 1e-5
        # the input is the zero-filled measurement, recovered exactly from the output
        measured = kspace.degrade(
            np.moveaxis(predict_folder.sr[met][0].astype(float), 2, 0), METS[met]
        )
        zf = kspace.zero_fill(measured, GRID)  # (S, X, Y)
        q = levels(entry["input"], (SLICES, *GRID))
        ok = (q > 0) & (q < 255)
        shown = entry["scale"]["offset"] + q * entry["scale"]["step"]
        assert np.abs(shown - zf)[ok].max() <= entry["scale"]["step"] / 2 + 1e-5


def test_quantise_clips_and_rounds():
    scale = Scale.spanning(0.0, 255.0)
    assert scale.step == 1.0
    np.testing.assert_array_equal(
        quantise(np.array([-5, 0.4, 0.6, 254.6, 300]), scale), [0, 0, 1, 255, 255]
    )


def test_seven_metabolites_four_lambdas_forty_slices_stay_under_20_mb(tmp_path):
    rng = np.random.default_rng(0)
    shape = (64, 64, 40)
    mask = np.zeros(shape, bool)
    mask[8:56, 6:58] = True
    maps = tuple(
        MapSeries(
            name=f"m{i}",
            lams=(0.0, 0.03, 0.06, 0.09),
            n=(32, 32),
            sr=rng.random((4, *shape), dtype=np.float32) * 10,
            zero_filled=rng.random(shape, dtype=np.float32) * 10,
            sd=rng.random((4, *shape), dtype=np.float32),
            sd_method="tta",
        )
        for i in range(7)
    )
    data = ReportData(maps=maps, t1=rng.random(shape, dtype=np.float32), mask=mask)
    size = write_report(data, tmp_path / "big.html").stat().st_size
    assert size < 20e6, size


def test_provenance_and_names_are_escaped(predict_folder):
    data = read_predict_folder(predict_folder.folder)
    hostile = ReportData(
        maps=data.maps,
        provenance=(("model", "<script>alert(1)</script>"),),
        title="</script><b>x",
    )
    page = render_html(hostile)
    assert "<script>alert(1)" not in page
    assert "</script><b>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert page.count("<script") == 2  # the JSON block and the viewer, nothing injected


def test_page_needs_no_network(predict_folder):
    page = render_html(read_predict_folder(predict_folder.folder, t1=predict_folder.t1))
    assert not re.search(r"(src|href)\s*=\s*[\"']?(https?:)?//", page)
    assert "@import" not in page and "fetch(" not in page


def test_sidecar_fills_the_provenance_and_names_the_t1(predict_folder, tmp_path):
    from mrsisr.metabolites import Metabolite
    from mrsisr.provenance import Provenance, sidecar_path

    model = tmp_path / "m.safetensors"
    model.write_bytes(b"weights")
    lr = tmp_path / "lr_Gln.nii.gz"
    lr.write_bytes(b"map")
    Provenance(
        command_line=["mrsisr", "predict"],
        model=model,
        inputs=[("map", lr), ("t1", predict_folder.t1)],
        n=METS["Gln"],
        grid=GRID,
        sharpness=(0.0,),
        metabolite_given="Gln",
        metabolite=Metabolite.Gln,
        units="mM",
        mask_source="given",
    ).write(sidecar_path(predict_folder.folder / "sr_Gln_lam0.nii.gz"))
    data = read_predict_folder(predict_folder.folder)
    rows = dict(data.provenance)
    assert rows["tool"].startswith("mrsisr ")
    assert hashlib.sha256(b"weights").hexdigest() in rows["model"]
    assert rows["input: t1"] == str(predict_folder.t1)
    assert rows["mask_source"] == "given"
    assert rows["n"] == "[10, 12]"
    assert data.units == "mM"
    assert data.t1 is not None and data.t1.shape == (*GRID, SLICES)
    np.testing.assert_allclose(data.t1[:, 0, 0], np.linspace(0, 100, GRID[0]), atol=1e-3)


def test_a_stacked_4d_output_reads_like_separate_files(predict_folder, tmp_path):
    import nibabel as nib

    from mrsisr.report.collect import MASK_DESCRIPTION, describe_map

    folder = tmp_path / "stacked"
    folder.mkdir()
    stack = np.moveaxis(predict_folder.sr["Gln"], 0, -1)
    img = nib.Nifti1Image(stack, predict_folder.affine)
    img.header["descrip"] = describe_map("Gln", METS["Gln"], LAMS).encode()
    nib.save(img, str(folder / "sr_Gln.nii.gz"))
    mask = nib.Nifti1Image(predict_folder.mask.astype(np.uint8), predict_folder.affine)
    mask.header["descrip"] = MASK_DESCRIPTION.encode()
    nib.save(mask, str(folder / "mask.nii.gz"))
    (series,) = read_predict_folder(folder).maps
    assert series.lams == LAMS
    np.testing.assert_array_equal(series.sr, predict_folder.sr["Gln"])
    assert series.sd is None


def test_report_command_writes_once_and_refuses_bad_folders(predict_folder, tmp_path, capsys):
    out = tmp_path / "r.html"
    assert main(["report", str(predict_folder.folder), "-o", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    assert out.stat().st_size > 0
    assert main(["report", str(predict_folder.folder), "-o", str(out)]) == 2
    assert "exists; pass --overwrite" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["report", str(empty), "-o", str(tmp_path / "e.html")]) == 2
    assert "no map written by mrsisr predict" in capsys.readouterr().err
    assert not (tmp_path / "e.html").exists()
    with pytest.raises(UserError, match="per-patient folders with maps: sr"):
        read_predict_folder(tmp_path)
    with pytest.raises(UserError, match=r"must end in \.html"):
        write_report(read_predict_folder(predict_folder.folder), tmp_path / "r.txt")
    assert not list(Path(tmp_path).glob(".*partial"))


def test_bad_sidecars_are_ignored_and_non_finite_maps_refused(predict_folder):
    (predict_folder.folder / "sr_Gln_lam0.json").write_text('{"n": NaN')
    rows = dict(read_predict_folder(predict_folder.folder).provenance)
    assert rows["sidecar"].startswith("none found")
    import nibabel as nib

    path = predict_folder.folder / "sr_Gln_lam0.nii.gz"
    img = nib.load(str(path))
    data = np.asarray(img.dataobj).copy()
    data[0, 0, 0] = np.nan
    broken = nib.Nifti1Image(data, img.affine, img.header)
    nib.save(broken, str(path))
    with pytest.raises(UserError, match="1 NaN or infinite values"):
        read_predict_folder(predict_folder.folder)


def test_a_map_on_another_grid_names_the_file_whose_grid_it_differs_from(predict_folder):
    # Regression: the message named the first super-resolved map, even when the grid that
    # every file is compared with came from an SD map that sorts before it.
    import nibabel as nib

    from mrsisr.report.collect import describe_sd

    shifted = predict_folder.affine.copy()
    shifted[:3, 3] += 10.0
    sd = nib.Nifti1Image(np.ones((*GRID, SLICES), np.float32), shifted)
    sd.header["descrip"] = describe_sd("tta", "Gln", METS["Gln"], (0.0,)).encode()
    nib.save(sd, str(predict_folder.folder / "a_Gln_sd.nii.gz"))
    with pytest.raises(UserError, match=r"sr_Gln_lam0\.03\.nii\.gz: on another grid than a_Gln_sd"):
        read_predict_folder(predict_folder.folder)


# --- issue 27 and issue 23 part 5 ----------------------------------------------------------


@pytest.mark.parametrize("units", ["<!--<script>", "</script><script>", "a & b > c"])
def test_units_that_look_like_markup_cannot_break_the_viewer(predict_folder, units):
    """``<!--<script>`` in a sidecar's units left the viewer empty: inside a script element
    it opens an escaped section that swallows the page's own script."""
    data = read_predict_folder(predict_folder.folder, units=units)
    page = render_html(data)
    block = re.search(
        r'<script type="application/json" id="mrsisr-data">(.*?)</script>', page, re.S
    ).group(1)
    assert "<" not in block and ">" not in block and "&" not in block
    assert json.loads(block)["units"] == units
    assert page.count("<script") == 2 and page.count("</script>") == 2


def test_the_page_draws_voxels_at_their_physical_size_with_the_axes_named(predict_folder):
    """The folder's voxels are 3 x 3.5 mm along voxel axes 0 and 1, pointing R and A."""
    data = read_predict_folder(predict_folder.folder)
    assert data.voxel_mm == (3.0, 3.5) and data.axes == ("R", "A")
    payload = payload_of(render_html(data))
    assert payload["voxel_mm"] == [3.0, 3.5] and payload["axes"] == ["R", "A"]
    page = render_html(data)
    assert "view.width = Math.round(X * ZX); view.height = Math.round(Y * ZY)" in page
    assert 'id="orientation"' in page and "drawn to scale" in page


def test_flipped_axes_are_named_by_the_direction_they_point_to(tmp_path):
    from report_folder import make_predict_folder

    made = make_predict_folder(tmp_path)
    for path in made.folder.glob("*.nii.gz"):  # voxel axis 0 runs right to left (L)
        img = nib.load(str(path))
        flipped = np.diag([-3.0, 3.5, 4.0, 1.0])
        nib.save(type(img)(np.asarray(img.dataobj), flipped, img.header), str(path))
    data = read_predict_folder(made.folder)
    assert data.axes == ("L", "A") and data.voxel_mm == (3.0, 3.5)


def test_a_t1_named_by_a_sidecar_that_has_moved_is_a_warning(predict_folder, tmp_path, caplog):
    from mrsisr.metabolites import Metabolite
    from mrsisr.provenance import Provenance, sidecar_path

    gone = tmp_path / "moved" / "t1.nii.gz"
    side = sidecar_path(predict_folder.folder / "sr_Gln_lam0.nii.gz")
    Provenance(
        command_line=["mrsisr", "predict"],
        model=None,
        inputs=[],
        n=METS["Gln"],
        grid=GRID,
        sharpness=(0.0,),
        metabolite_given="Gln",
        metabolite=Metabolite.Gln,
    ).write(side)
    record = json.loads(side.read_text(encoding="utf-8"))
    record["inputs"] = [{"role": "t1", "path": str(gone), "sha256": "0"}]
    side.write_text(json.dumps(record), encoding="utf-8")
    try:
        with caplog.at_level("WARNING"):
            data = read_predict_folder(predict_folder.folder)
        assert data.t1 is None and "moved?" in caplog.text and str(gone) in caplog.text
        with pytest.raises(UserError, match="T1 not found \\(t1\\)"):  # given: an error
            read_predict_folder(predict_folder.folder, t1=gone)
        with flags(FLAGS), pytest.raises(UserError, match="T1 not found \\(--t1\\)"):
            read_predict_folder(predict_folder.folder, t1=gone)  # as mrsisr report says it
    finally:
        side.unlink()


def test_a_folder_of_many_patient_folders_is_refused_in_a_short_line(predict_folder, tmp_path):
    root = tmp_path / "cohort"
    root.mkdir()
    for i in range(8):
        (root / f"P{i:03d}").symlink_to(predict_folder.folder)
    with pytest.raises(UserError) as err:
        read_predict_folder(root)
    message = str(err.value)
    assert "P000, P001, P002, P003, P004 and 3 more" in message and "P005" not in message
