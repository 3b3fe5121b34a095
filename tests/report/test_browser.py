"""The report in a real browser: headless Chromium driven by Playwright.

Skips, saying why, when Playwright or a Chromium binary is missing (``.ci/run`` installs
both). The page is opened from a file with a fresh profile and no network; the test moves
the λ slider and the slice scroller, switches layers, reads the canvas pixels back, inverts
the colour map and compares the values with the NIfTI files at a few voxels.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from report_folder import GRID, LAMS, SLICES

from mrsisr import kspace
from mrsisr.report import write_report
from mrsisr.report.collect import read_predict_folder
from mrsisr.report.html import report_payload

pytestmark = pytest.mark.slow  # drives a Chromium browser

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
VOXELS = [(5, 4), (10, 12), (14, 18), (8, 15)]  # (x, y), inside the mask


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture(scope="module")
def browser_page():
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="Playwright is not installed (pip install playwright)"
    )
    executable = _chromium()
    if executable is None:
        pytest.skip("no Chromium binary on PATH (Debian: apt-get install chromium)")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1200, "height": 900}, offline=True)
        yield context
        context.close()
        browser.close()


def _pixels(page, voxels) -> list[tuple[int, int, int]]:
    """RGB of the displayed canvas at the centre of each voxel ``(x, y)``."""
    return page.evaluate(
        """(voxels) => {
            const view = document.getElementById('view'), [zx, zy] = window.mrsisrReport.zoom;
            const Y = window.mrsisrReport.shape[1], ctx = view.getContext('2d');
            return voxels.map(([x, y]) => {
                const px = Math.floor((x + 0.5) * zx), py = Math.floor((Y - 1 - y + 0.5) * zy);
                const d = ctx.getImageData(px, py, 1, 1).data;
                return [d[0], d[1], d[2]];
            });
        }""",
        [list(v) for v in voxels],
    )


def _values(rgb, lut, scale) -> np.ndarray:
    """Invert the colour map: nearest LUT entry -> level -> value."""
    table = np.asarray(lut, float).reshape(256, 3)
    dist = ((np.asarray(rgb, float)[:, None, :] - table[None]) ** 2).sum(-1)
    assert dist.min(axis=1).max() <= 3, "a displayed colour is not in the colour map"
    return scale["offset"] + dist.argmin(axis=1) * scale["step"]


def test_report_displays_the_nifti_values_and_follows_the_controls(
    predict_folder, browser_page, tmp_path
):
    data = read_predict_folder(predict_folder.folder, t1=predict_folder.t1, units="mM")
    page_file = write_report(data, tmp_path / "report.html")
    payload = report_payload(data)
    entry = payload["maps"][0]  # first metabolite in the page (Gln)
    met, n = entry["name"], tuple(entry["n"])
    sr, sd = predict_folder.sr[met], predict_folder.sd[met]
    errors: list[str] = []
    page = browser_page.new_page()
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.goto(Path(page_file).resolve().as_uri())
    page.wait_for_function("window.mrsisrReport !== undefined")
    page.fill("#opacity", "100")  # pure colour-map colours, no T1 blended in

    def check(layer_values, lut, scale, slice_):
        shown = _values(_pixels(page, VOXELS), lut, scale)
        truth = np.array([layer_values[x, y, slice_] for x, y in VOXELS])
        np.testing.assert_allclose(shown, truth, atol=scale["step"] / 2 + 1e-4)

    start = payload["start_slice"]
    before = _pixels(page, VOXELS)
    check(sr[0], payload["luts"]["map"], entry["scale"], start)

    page.fill("#lam", str(len(LAMS) - 1))  # the λ slider
    assert page.get_attribute("#view", "data-lam") == f"{LAMS[-1]:g}"
    assert _pixels(page, VOXELS) != before
    check(sr[-1], payload["luts"]["map"], entry["scale"], start)

    other = (start + 2) % SLICES  # the slice scroller
    page.fill("#slice", str(other))
    assert page.get_attribute("#view", "data-slice") == str(other)
    check(sr[-1], payload["luts"]["map"], entry["scale"], other)

    page.check("input[name=layer][value=sd]")
    check(sd[-1], payload["luts"]["sd"], entry["sd_scale"], other)

    page.check("input[name=layer][value=input]")
    measured = kspace.degrade(np.moveaxis(sr[0].astype(np.float64), 2, 0), n)
    zero_filled = np.moveaxis(kspace.zero_fill(measured, GRID), 0, 2)
    check(zero_filled, payload["luts"]["map"], entry["scale"], other)

    # The readout under the mouse gives the dequantised value of the voxel.
    page.check("input[name=layer][value=sr]")
    box = page.locator("#view").bounding_box()
    x, y = VOXELS[1]
    page.mouse.move(
        box["x"] + (x + 0.5) * box["width"] / GRID[0],
        box["y"] + (GRID[1] - 1 - y + 0.5) * box["height"] / GRID[1],
    )
    assert page.get_attribute("#readout", "data-voxel") == f"{x},{y},{other}"
    value = float(page.get_attribute("#readout", "data-value"))
    assert abs(value - sr[-1][x, y, other]) <= entry["scale"]["step"] / 2 + 1e-4

    # Outside the mask only the T1 shows (grey), with the mask toggle on.
    (grey,) = _pixels(page, [(0, 0)])
    assert grey[0] == grey[1] == grey[2]
    assert not errors, errors
    page.close()
