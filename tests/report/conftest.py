"""Fixtures of the report tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from report_folder import PredictFolder, make_predict_folder


@pytest.fixture
def predict_folder(tmp_path: Path) -> PredictFolder:
    return make_predict_folder(tmp_path)
