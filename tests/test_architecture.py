"""The dependency direction of docs/ARCHITECTURE.md, checked by reading imports."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "mrsisr"

# Layer -> packages it must never import.
FORBIDDEN = {
    "kspace": ("mrsisr.nn", "mrsisr.data", "mrsisr.train", "mrsisr.commands", "mrsisr.cli"),
    "metrics": ("mrsisr.nn", "mrsisr.train", "mrsisr.commands", "mrsisr.cli"),
    "nn": ("mrsisr.data", "mrsisr.train", "mrsisr.commands", "mrsisr.cli"),
    "data": ("mrsisr.nn", "mrsisr.train", "mrsisr.commands", "mrsisr.cli"),
    "train": ("mrsisr.commands", "mrsisr.cli"),
    "pipelines": ("torch", "mrsisr.nn", "mrsisr.train", "mrsisr.commands", "mrsisr.cli"),
    "provenance": ("torch", "mrsisr.nn", "mrsisr.train", "mrsisr.commands", "mrsisr.cli"),
    "symmetry": ("mrsisr.nn", "mrsisr.data", "mrsisr.train", "mrsisr.commands", "mrsisr.cli"),
    "uncertainty": ("mrsisr.train", "mrsisr.commands", "mrsisr.cli"),
    "report": ("mrsisr.nn", "mrsisr.train", "mrsisr.commands", "mrsisr.cli"),
    "predict": ("mrsisr.train", "mrsisr.commands", "mrsisr.cli"),
}


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def layer_files(layer: str) -> list[Path]:
    single = PACKAGE / f"{layer}.py"
    return [single] if single.exists() else sorted((PACKAGE / layer).rglob("*.py"))


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layers_only_import_downwards(layer: str) -> None:
    files = layer_files(layer)
    assert files, f"layer {layer} has no modules"
    offending = [
        f"{path.relative_to(PACKAGE)} imports {name}"
        for path in files
        for name in imported_modules(path)
        if name.startswith(FORBIDDEN[layer])
    ]
    assert not offending, offending


def test_package_import_is_light() -> None:
    """``import mrsisr`` and ``mrsisr --help`` must not pull in torch or matplotlib."""
    code = (
        "import sys, mrsisr, mrsisr.cli; mrsisr.cli.build_parser();"
        "heavy = [m for m in ('torch', 'matplotlib', 'nilearn', 'SimpleITK') if m in sys.modules];"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"imported at start-up: {out.stdout.strip()}"
