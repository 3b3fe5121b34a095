"""The shipped model survives torch.export: export, save, load, run, same numbers."""

from __future__ import annotations

import io

import pytest
import torch
from nn_inputs import make_inputs, perturb_

from mrsisr.nn.variants import build_generator

GRID = (32, 48)


@pytest.mark.slow
def test_full_model_exports_and_matches_eager() -> None:
    torch.manual_seed(0)
    model = perturb_(build_generator("full", grid=GRID, channels=(4, 8, 16, 16, 32))).eval()
    example = make_inputs(3, GRID)
    program = torch.export.export(model, example)
    buffer = io.BytesIO()
    torch.export.save(program, buffer)
    buffer.seek(0)
    loaded = torch.export.load(buffer).module()
    # Other conditions than the example's: nothing was frozen at export time.
    other = make_inputs(
        3, GRID, seed=1, n=[(4, 4), (31, 47), (9, 10)], met=[6, 5, 4], lam=[0.1, 0.0, 0.02]
    )
    with torch.no_grad():
        for inputs in (example, other):
            torch.testing.assert_close(loaded(*inputs), model(*inputs), atol=1e-5, rtol=1e-5)
