"""The dependency direction of docs/ARCHITECTURE.md, checked by reading imports."""

from __future__ import annotations

import argparse
import ast
import functools
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "mrsisr"

# Layer -> packages it must never import.
FORBIDDEN = {
    "kspace": ("mrsisr.nn", "mrsisr.data", "mrsisr.train", "mrsisr.commands", "mrsisr.cli"),
    "metrics": ("mrsisr.nn", "mrsisr.train", "mrsisr.commands", "mrsisr.cli"),
    "nn": ("mrsisr.data", "mrsisr.train", "mrsisr.commands", "mrsisr.cli"),
    "data": ("mrsisr.nn", "mrsisr.sim", "mrsisr.train", "mrsisr.commands", "mrsisr.cli"),
    "sim": ("torch", "mrsisr.nn", "mrsisr.train", "mrsisr.commands", "mrsisr.cli"),
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
    """``import mrsisr`` and ``mrsisr --help`` must not pull in numpy, torch or matplotlib."""
    code = (
        "import sys, mrsisr, mrsisr.cli; mrsisr.cli.build_parser();"
        "heavy = ('torch', 'numpy', 'matplotlib', 'nilearn', 'SimpleITK');"
        "heavy = [m for m in heavy if m in sys.modules];"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"imported at start-up: {out.stdout.strip()}"


# --- the import graph, read from the sources (imports inside functions count) --------------

HEAVY = (
    "numpy",
    "torch",
    "torchvision",
    "safetensors.torch",
    "matplotlib",
    "nilearn",
    "tensorboard",
    "SimpleITK",
    "scipy",
    "nibabel",
)
"""Packages whose import costs start-up time: the only reason to import inside a function
(directly, or through an mrsisr module that imports one), besides optional packages."""
_OPTIONAL = ("tensorboard", "playwright", "SimpleITK", "skimage", "pytorch_msssim", "tomli")
"""Packages that may be missing (not in the dependencies of every Python version)."""


@dataclass(frozen=True)
class Edge:
    target: str
    lazy: bool  # inside a function
    line: int


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _is_type_checking(node: ast.AST) -> bool:
    test = getattr(node, "test", None)
    return isinstance(node, ast.If) and (
        (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
        or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")
    )


def _targets(node: ast.Import | ast.ImportFrom) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    modules = [f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in MODULES]
    return modules if len(modules) == len(node.names) else [base, *modules]


@functools.cache
def edges(module: str) -> tuple[Edge, ...]:
    """Every import of ``module`` outside ``if TYPE_CHECKING:`` blocks (absolute imports)."""
    found: list[Edge] = []

    def visit(node: ast.AST, lazy: bool) -> None:
        if _is_type_checking(node):
            return
        if isinstance(node, (ast.Import, ast.ImportFrom)) and getattr(node, "level", 0) == 0:
            found.extend(Edge(t, lazy, node.lineno) for t in _targets(node))
        inner = lazy or isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
        for child in ast.iter_child_nodes(node):
            visit(child, inner)

    visit(ast.parse(MODULES[module].read_text()), False)
    return tuple(found)


def _is_heavy_package(target: str) -> bool:
    return any(target == h or target.startswith(f"{h}.") for h in HEAVY)


def _own(target: str) -> str | None:
    """The mrsisr module an import names (``mrsisr.a.b.name`` -> ``mrsisr.a.b``)."""
    while target and target not in MODULES:
        target = target.rpartition(".")[0]
    return target or None


@functools.cache
def heavy(module: str, _seen: frozenset[str] = frozenset()) -> bool:
    """Whether importing ``module`` imports a :data:`HEAVY` package (its packages' too)."""
    seen = _seen | {module}
    parents = [p for p in (module.rsplit(".", k)[0] for k in range(1, module.count(".") + 1))]
    for target in [*(e.target for e in edges(module) if not e.lazy), *parents]:
        if _is_heavy_package(target):
            return True
        own = _own(target)
        if own and own not in seen and heavy(own, seen):
            return True
    return False


def test_no_import_cycles_counting_imports_inside_functions() -> None:
    graph = {
        m: {o for e in edges(m) if (o := _own(e.target)) and o != m and o in MODULES}
        for m in MODULES
    }
    cycles = []
    for start in graph:  # a cycle through start: start reaches itself
        stack, seen = [(start, (start,))], set()
        while stack:
            node, path = stack.pop()
            for nxt in graph[node]:
                if nxt == start:
                    cycles.append(" -> ".join((*path, start)))
                elif nxt not in seen:
                    seen.add(nxt)
                    stack.append((nxt, (*path, nxt)))
            if cycles:
                break
    assert not cycles, cycles


def test_imports_inside_functions_are_only_for_heavy_packages() -> None:
    """A function-level import must save start-up time: a heavy package, or a module that
    imports one; everything else is imported at the top (``TYPE_CHECKING`` for types)."""
    needless = [
        f"{MODULES[m].relative_to(PACKAGE)}:{e.line} imports {e.target}"
        for m in MODULES
        for e in edges(m)
        if e.lazy
        and not _is_heavy_package(e.target)
        and not ((own := _own(e.target)) and heavy(own))
        and not (e.target.split(".")[0] != "mrsisr" and e.target.split(".")[0] in _OPTIONAL)
    ]
    assert not needless, needless


def test_the_command_line_imports_nothing_heavy_before_a_command_runs() -> None:
    """What ``mrsisr --help`` loads (the CLI and the command modules) stays light."""
    startup = [m for m in MODULES if m == "mrsisr.cli" or m.startswith("mrsisr.commands")]
    heavy_at_top = [
        f"{MODULES[m].relative_to(PACKAGE)}:{e.line} imports {e.target}"
        for m in startup
        for e in edges(m)
        if not e.lazy and (_is_heavy_package(e.target) or ((own := _own(e.target)) and heavy(own)))
    ]
    assert not heavy_at_top, heavy_at_top


# --- the product apart from the simulators and the paper's experiments --------------------

PRODUCT = (
    "mrsisr.commands.predict",
    "mrsisr.commands.adapt",
    "mrsisr.commands.report",
    "mrsisr.inference",
    "mrsisr.predict",
    "mrsisr.adapt",
    "mrsisr.selfcheck",
    "mrsisr.uncertainty",
    "mrsisr.report",
    "mrsisr.checkpoint",
    "mrsisr.pipelines",
    "mrsisr.data",
)
"""``mrsisr predict``, ``adapt`` and ``report`` and the library they run on (modules and
packages: a package stands for all its modules)."""
NOT_PRODUCT = ("mrsisr.sim", "mrsisr.experiments")
"""The in-silico simulators and the paper's experiments: ``mrsisr phantom``, ``demo`` and
``reproduce`` use them; the product runs without them."""


def _within(module: str, packages: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(f"{p}.") for p in packages)


def _import_chains(roots: list[str]) -> dict[str, tuple[str, ...]]:
    """Every mrsisr module that importing ``roots`` can load (imports inside functions and the
    packages of a module included), each with the chain of imports that reaches it."""
    chains = {root: (root,) for root in roots}
    queue = list(roots)
    while queue:
        module = queue.pop()
        parents = [module.rsplit(".", k)[0] for k in range(1, module.count(".") + 1)]
        for target in [*(e.target for e in edges(module)), *parents]:
            own = _own(target)
            if own and own not in chains:
                chains[own] = (*chains[module], own)
                queue.append(own)
    return chains


def test_the_product_imports_neither_the_simulators_nor_the_experiments() -> None:
    """Walks the import graph from :data:`PRODUCT`; names the chain to any module of
    :data:`NOT_PRODUCT` it reaches (a function-level import counts: it runs one day)."""
    roots = [m for m in MODULES if _within(m, PRODUCT)]
    assert {p for p in PRODUCT if not any(_within(m, (p,)) for m in roots)} == set()
    reached = [
        " -> ".join(chain)
        for module, chain in sorted(_import_chains(roots).items())
        if _within(module, NOT_PRODUCT)
    ]
    assert not reached, reached


def test_the_import_walk_finds_the_simulators_behind_mrsisr_phantom() -> None:
    """The walk of the test above does see through function-level imports and packages."""
    chains = _import_chains(["mrsisr.commands.phantom", "mrsisr.commands.reproduce"])
    assert chains["mrsisr.sim.glioma"][0] == "mrsisr.commands.phantom"
    assert "mrsisr.experiments.reproduce" in chains
    assert "mrsisr.sim" in chains  # the package of a module imported


# --- the house: every top-level module and package has a layer; imports point down ---------

LAYERS: dict[str, int] = {
    # 0: foundations, importing nothing of the package
    **dict.fromkeys(
        ["mrsisr", "errors", "options", "scales", "weights", "kspace", "symmetry", "atomic"], 0
    ),
    # 1: small shared helpers
    **dict.fromkeys(["untrusted", "machine", "metabolites", "registration", "bands"], 1),
    # 2: metrics, networks, data, provenance: independent of one another
    **dict.fromkeys(["metrics", "nn", "data", "provenance"], 2),
    # 3: what is built from one of them
    **dict.fromkeys(["figures", "checkpoint", "acquisition", "pipelines"], 3),
    # 4: a model at work: inference, training
    **dict.fromkeys(["inference", "train"], 4),
    # 5: what runs a model several times or reads its outputs: uncertainty, the HTML report
    # (its header descriptions are what predict writes), benchmarks
    **dict.fromkeys(["uncertainty", "selfcheck", "report", "benchmarking"], 5),
    # 6: what fine-tunes a model on a user's maps, checked by the self-check
    "adapt": 6,
    # 7: predictions from files (with their SD maps and reports)
    "predict": 7,
    # 8: the in-silico cohorts: they need only data, and sit above the product so that no
    # module of it can import them
    "sim": 8,
    # 9: evaluation, the demo
    **dict.fromkeys(["evaluation", "demo"], 9),
    # 10: the paper's experiments, built on the evaluation
    "experiments": 10,
    "commands": 11,
    "cli": 12,
    "__main__": 13,
}
"""The layer of each top-level module or package (docs/ARCHITECTURE.md draws it)."""


def _unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "mrsisr"


def test_every_module_and_package_has_a_layer() -> None:
    units = {_unit(m) for m in MODULES}
    assert units - set(LAYERS) == set(), "give new modules a layer in LAYERS and the docs"
    assert set(LAYERS) - units == set(), "LAYERS names a module that does not exist"


def test_imports_point_to_lower_layers_only() -> None:
    upward = sorted(
        f"{MODULES[m].relative_to(PACKAGE)}:{e.line} imports {own} "
        f"(layer {LAYERS[_unit(own)]} from layer {LAYERS[_unit(m)]})"
        for m in MODULES
        for e in edges(m)
        if (own := _own(e.target))
        and _unit(own) != _unit(m)
        and LAYERS[_unit(own)] >= LAYERS[_unit(m)]
    )
    assert not upward, upward


# --- flags are spelled in commands/ only (issue 22) ----------------------------------------

SPELL_FLAGS = ("commands/", "cli.py", "errors.py")
"""Where flags may be spelled: the command modules, the dispatcher, and errors.py's examples of
what :func:`mrsisr.errors.argument` gives."""
FOREIGN_FLAGS = {"pipelines/fslmrs.py": {"--output", "--combine"}}
"""Flags of other programs a module names (fsl_mrsi's own), allowed even if mrsisr had them."""
ELSEWHERE = {("reproduce", "show_config"): "train"}
"""FLAGS entries that spell another command's flag: reproduce's hint for an unknown training
key names `mrsisr train --show-config`."""
_FLAG = re.compile(r"(?<![\w-])--[A-Za-z][\w-]*")


def command_parsers() -> dict[str, argparse.ArgumentParser]:
    """Every sub-command's parser, as :func:`mrsisr.cli.build_parser` builds it."""
    from mrsisr.cli import build_parser

    actions = build_parser()._actions
    (commands,) = (a for a in actions if isinstance(a, argparse._SubParsersAction))
    return dict(commands.choices)


def long_options(parser: argparse.ArgumentParser) -> set[str]:
    """A parser's long options and positional metavars, its actions' (``cohort merge``) too."""
    names: set[str] = set()
    for action in parser._actions:
        names |= {o for o in action.option_strings if o.startswith("--")}
        if not action.option_strings and isinstance(action.metavar, str):
            names.add(action.metavar)
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                names |= long_options(sub)
    return names


def flag_spellings(source: str, where: str, flags: set[str]) -> list[str]:
    """The flags among ``flags`` that the string literals of ``source`` spell (docstrings and
    the literal parts of f-strings too; comments are no literals), but the arguments of
    ``_git(...)`` calls and the :data:`FOREIGN_FLAGS` of ``where``."""
    tree = ast.parse(source)
    git = {
        id(arg)
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "_git"
        for arg in node.args
    }
    foreign = FOREIGN_FLAGS.get(where, set())
    literals = (
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in git
    )
    return [
        f"{where}:{node.lineno} {flag}"
        for node in sorted(literals, key=lambda node: (node.lineno, node.col_offset))
        for flag in _FLAG.findall(node.value)
        if flag in flags and flag not in foreign
    ]


def test_the_flag_scan_reads_literals_whole_and_skips_comments() -> None:
    flags = {"--sd", "--t1", "--set", "--output"}
    source = (
        '"""Doc: ``--t1``."""\n'
        'x = f"{a} --sd-percent and --sd {b}"  # --set\n'
        "y = ('--set=a', '---t1', 'x--t1')\n"
        "_git('status', '--set')\n"
        "z = '--output'\n"
    )
    assert flag_spellings(source, "m.py", flags) == [
        "m.py:1 --t1", "m.py:2 --sd", "m.py:3 --set", "m.py:5 --output"
    ]  # fmt: skip
    assert flag_spellings(source, "pipelines/fslmrs.py", flags)[-1] == "pipelines/fslmrs.py:3 --set"


def test_library_code_spells_no_flag_of_any_command() -> None:
    """Library code names an argument by its parameter (:func:`mrsisr.errors.argument`); the
    flags are the commands' (their ``FLAGS``): a caller of ``mrsisr.predict.run_jobs`` from
    Python has no ``--t1``. The flags are those the parsers of ``mrsisr.cli`` hold, so a new
    option is checked as soon as a command has it."""
    flags = set().union(*map(long_options, command_parsers().values()))
    assert {"--t1", "--set", "--show-config", "--no-lpips", "--from"} <= flags
    spelled = [
        hit
        for path in sorted(PACKAGE.rglob("*.py"))
        if not (where := path.relative_to(PACKAGE).as_posix()).startswith(SPELL_FLAGS)
        for hit in flag_spellings(path.read_text(encoding="utf-8"), where, flags)
    ]
    assert not spelled, "name the argument with mrsisr.errors.argument(): " + ", ".join(spelled)


def test_every_flag_a_command_gives_an_argument_is_one_it_has() -> None:
    """A command's ``FLAGS`` spell its own options: a typo, or a flag the command lacks,
    would put into a message a flag its user cannot type."""
    parsers = command_parsers()
    wrong = [
        f"mrsisr {name}: {key} -> {flag}"
        for name, parser in parsers.items()
        for key, flag in parser.get_default("_flags").items()
        if flag not in long_options(parsers[ELSEWHERE.get((name, key), name)])
    ]
    assert not wrong, wrong
