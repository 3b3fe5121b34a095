"""Release habits: the version is written once and the changelog has a section for it."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import mrsisr

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]


def test_the_version_is_written_only_in_the_package() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "version" not in project["project"] and "version" in project["project"]["dynamic"]
    dynamic = project["tool"]["setuptools"]["dynamic"]["version"]
    assert dynamic == {"attr": "mrsisr.__version__"}
    assert re.fullmatch(r"\d+\.\d+\.\d+", mrsisr.__version__)


def test_the_changelog_has_an_unreleased_section_and_one_for_this_version() -> None:
    headings = re.findall(r"^## \[([^]]+)\]", (ROOT / "CHANGELOG.md").read_text(), re.M)
    assert headings[0] == "Unreleased"
    assert mrsisr.__version__ in headings
