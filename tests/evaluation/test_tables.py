"""Tables: CSV round trip, pairing of samples, Wilcoxon wiring against scipy, markdown."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import wilcoxon

from mrsisr.evaluation.tables import (
    entries,
    entry_of,
    margin_table,
    margins,
    paired_scores,
    patient_means,
    read_samples_csv,
    summary_markdown,
    wilcoxon_rows,
    write_samples_csv,
)


def _rows(seed: int = 0, maps: int = 30) -> list[dict]:
    rng = np.random.default_rng(seed)
    rows = []
    for method, lam, shift in (("net", 0.0, 1.0), ("net", 0.05, -0.2), ("zero_fill", None, 0.0)):
        for i in range(maps):
            base = 25 + (i % 7)
            psnr = base + shift + rng.normal(0, 0.5)
            rows.append(
                {
                    "method": method,
                    "lam": lam,
                    "patient": f"P{i % 3}",
                    "slice": i // 3,
                    "metabolite": "NAA",
                    "n": 16 + 2 * (i % 2),
                    "psnr": psnr,
                    "ssim": 0.9 + shift / 10,
                    "ms_ssim": 0.95,
                    "nrmse": 0.1,
                    "lpips": math.nan,
                }
            )
    return rows


def test_csv_round_trip_keeps_numbers_missing_lambda_and_nan(tmp_path):
    rows = _rows()
    back = read_samples_csv(write_samples_csv(tmp_path / "s.csv", rows))
    assert len(back) == len(rows)
    for a, b in zip(rows, back):
        assert b["lam"] == a["lam"] and b["n"] == a["n"] and b["slice"] == a["slice"]
        assert b["psnr"] == a["psnr"] and math.isnan(b["lpips"])


def test_entries_and_pairing_do_not_depend_on_row_order():
    rows = _rows()
    assert entries(rows) == ["net@0", "net@0.05", "zero_fill"]
    shuffled = [rows[i] for i in np.random.default_rng(1).permutation(len(rows))]
    a, b = paired_scores(rows, "psnr"), paired_scores(shuffled, "psnr")
    for name in a:
        np.testing.assert_array_equal(a[name], b[name])


def test_wilcoxon_counts_patients_not_maps_and_is_scipys_on_their_means():
    rows = _rows(maps=60)
    diffs = []
    for patient in ("P0", "P1", "P2"):
        own = [r for r in rows if r["patient"] == patient]
        net = np.mean([r["psnr"] for r in own if entry_of(r) == "net@0"])
        ref = np.mean([r["psnr"] for r in own if entry_of(r) == "zero_fill"])
        diffs.append(net - ref)
    (test,) = [t for t in wilcoxon_rows(rows, "psnr", "zero_fill") if t[0] == "net@0"]
    _, patients, maps, median, p = test
    assert (patients, maps) == (3, 60)
    assert median == pytest.approx(np.median(diffs))
    assert p == pytest.approx(wilcoxon(diffs, zero_method="pratt").pvalue, rel=1e-12)
    # 60 maps with a clear 1 dB gain, but 3 patients: the exact two-sided p cannot be < 0.25.
    assert p == pytest.approx(0.25)


def test_a_map_scored_non_finite_by_one_entry_leaves_the_patient_means_of_both():
    rows = _rows(maps=6)
    broken = next(r for r in rows if entry_of(r) == "net@0" and r["patient"] == "P0")
    broken["psnr"] = math.nan
    means, maps = patient_means(rows, "psnr", ["net@0", "zero_fill"])
    assert maps == 5
    kept = [
        r["psnr"]
        for r in rows
        if entry_of(r) == "zero_fill" and r["patient"] == "P0" and r["slice"] != broken["slice"]
    ]
    assert means["zero_fill"][0] == pytest.approx(np.mean(kept))


def test_summary_reports_means_stds_definitions_and_p_values():
    rows = _rows()
    text = summary_markdown(rows, {"data_range": "max - min inside the mask"}, "zero_fill")
    values = np.array([r["psnr"] for r in rows if r["method"] == "zero_fill"])
    assert f"{values.mean():.2f} ± {values.std():.2f}" in text
    assert "max - min inside the mask" in text
    assert "against `zero_fill`" in text and "p-value" in text
    assert "## LPIPS by" not in text  # all NaN: no LPIPS numbers


def test_margins_are_paired_differences_per_metabolite_and_n():
    rows = _rows()
    # A second metabolite where the network is 2 dB worse than zero-filling at every map.
    worse = [
        {**r, "metabolite": "Gly", "psnr": r["psnr"] - (2.0 if r["method"] == "net" else 0.0)}
        for r in rows
        if entry_of(r) in ("net@0", "zero_fill")
    ]
    table = margins(rows + worse, "net@0")
    assert list(table) == ["NAA", "Gly", "all"]
    for n in (16, 18):
        net = [r["psnr"] for r in rows if entry_of(r) == "net@0" and r["n"] == n]
        ref = [r["psnr"] for r in rows if entry_of(r) == "zero_fill" and r["n"] == n]
        assert table["NAA"][n] == pytest.approx(np.mean(net) - np.mean(ref))
        assert table["Gly"][n] == pytest.approx(table["NAA"][n] - 2.0)
        assert table["all"][n] == pytest.approx(table["NAA"][n] - 1.0)
    text = margin_table(rows + worse, "net@0")
    assert "| Gly |" in text and f"{min(table['Gly'].values()):+.2f} |" in text
    summary = summary_markdown(rows + worse, {}, "zero_fill")
    assert "margin of `net@0` over zero-filling" in summary
    assert "margin of `zero_fill`" not in summary
