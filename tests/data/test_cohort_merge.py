"""Merging cohorts (``mrsisr.data.merge``): content and order, each source's own test fold
left out, links, the merged cohort as training reads it, and every refusal writing nothing."""

from __future__ import annotations

import hashlib
import logging
import shutil
from pathlib import Path

import pytest
from cohort_helpers import write_cohort

from mrsisr.cli import main
from mrsisr.commands.cohort import FLAGS
from mrsisr.data.check import check_cohort
from mrsisr.data.cohort import Cohort
from mrsisr.data.dataset import MRSIDataset, SampleKey
from mrsisr.data.merge import LeaveOut, MergePlan, plan_merge, write_merge
from mrsisr.data.splits import fold_split
from mrsisr.errors import UserError
from mrsisr.metabolites import Metabolite

RANDOMISED = tuple(f"R{i:03d}" for i in range(1, 8))  # 7 patients: folds of 3, 2 and 2
REALISTIC = tuple(f"W{i:03d}" for i in range(1, 7))


@pytest.fixture
def sources(tmp_path: Path) -> tuple[Path, Path]:
    """Two small cohorts as the two simulators write them: other id letters, same maps."""
    first = write_cohort(tmp_path / "randomised", RANDOMISED, provenance="randomised, seed 0")
    second = write_cohort(tmp_path / "realistic", REALISTIC, provenance="realistic, seed 0")
    return first, second


def merge_cohorts(sources: list[Path] | tuple[Path, ...], out: Path, **options) -> MergePlan:
    """Check, then write: what ``mrsisr cohort merge`` does."""
    plan = plan_merge(sources, out, **options)
    write_merge(plan)
    return plan


def files_of(root: Path) -> dict[str, bytes]:
    """Every file below ``root`` (through links), by its path relative to ``root``."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_merge_copies_every_patient_in_order(sources: tuple[Path, Path], tmp_path: Path) -> None:
    out = tmp_path / "mixed"
    plan = merge_cohorts(sources, out)
    merged = Cohort.open(out)
    assert merged.patients == RANDOMISED + REALISTIC  # the first source's patients first
    assert plan.left_out == ()
    copied = files_of(out)
    for source in sources:
        for pid in Cohort.open(source).patients:
            assert not (out / pid).is_symlink()
            for name, data in files_of(source / pid).items():
                assert copied[f"{pid}/{name}"] == data
    assert set(copied) == {"cohort.json"} | {
        f"{pid}/{name}" for s in sources for pid in Cohort.open(s).patients
        for name in files_of(s / pid)
    }  # fmt: skip
    m = merged.manifest
    assert (m.metabolites, m.units, m.field_strength_t) == (
        (Metabolite.tCho, Metabolite.NAA),
        "mM",
        7.0,
    )
    for source in sources:  # the provenance names each source and its cohort.json's SHA-256
        assert f"{source.resolve()} (cohort.json SHA-256 {sha256(source / 'cohort.json')}" in (
            m.provenance
        )
    assert '"randomised, seed 0"; 7 of 7 patients' in m.provenance
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_training_reads_the_merged_cohort(sources: tuple[Path, Path], tmp_path: Path) -> None:
    out = merge_cohorts(sources, tmp_path / "mixed", leave_out=LeaveOut(3, 0)).out
    assert check_cohort(out) == []
    merged = Cohort.open(out)
    for pid in merged.patients:
        patient = merged.load(pid)
        source = sources[0] if pid.startswith("R") else sources[1]
        original = Cohort.open(source).load(pid)
        assert (patient.maps[Metabolite.NAA] == original.maps[Metabolite.NAA]).all()
    # The merged cohort splits into folds like any other (training's fold_split).
    assert len(fold_split(merged.patients, 3, 0, 0).test) == 3


def test_cohorts_of_two_grids_over_one_field_of_view_merge_and_train(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """An 8 x 7 cohort of 3.4 mm voxels and a 16 x 14 one of 1.7 mm (27.2 x 23.8 mm both)."""
    coarse = write_cohort(tmp_path / "coarse", RANDOMISED[:3])
    fine = write_cohort(tmp_path / "fine", REALISTIC[:2], shape=(16, 14, 3), voxel_mm=1.7)
    out = tmp_path / "mixed"
    assert main(["cohort", "merge", str(coarse), str(fine), "--out", str(out)]) == 0
    assert check_cohort(out) == []
    shapes = Cohort.open(out).map_shapes()
    assert shapes == {**dict.fromkeys(RANDOMISED[:3], (8, 7, 3)), **dict.fromkeys(
        REALISTIC[:2], (16, 14, 3))}  # fmt: skip
    capsys.readouterr()
    assert main(["cohort", "check", str(out)]) == 0
    assert "grids 8x7x3 (3 patients), 16x14x3 (2 patients), units mM" in capsys.readouterr().out
    dataset = MRSIDataset(out, n_choices=[4, 6], seed=0)
    assert dataset.native_grids == ((8, 7), (16, 14)) and dataset.grid == (8, 7)
    fine_index = next(i for i in range(len(dataset)) if dataset.native_grid_of(i) == (16, 14))
    assert dataset.case(SampleKey(fine_index, n=6)).n == (12, 12)


@pytest.mark.parametrize(("folds", "fold", "seed"), [(3, 0, 0), (3, 2, 0), (4, 1, 7)])
def test_leave_out_is_each_sources_own_test_fold(
    sources: tuple[Path, Path], tmp_path: Path, folds: int, fold: int, seed: int
) -> None:
    out = tmp_path / "mixed"
    plan = merge_cohorts(sources, out, leave_out=LeaveOut(folds, fold, seed))
    merged = Cohort.open(out).patients
    kept: list[str] = []
    for source, ids in zip(plan.sources, (RANDOMISED, REALISTIC)):
        test = fold_split(ids, folds, seed, fold).test  # as training on that source alone
        assert source.left_out == test and test
        assert source.kept == tuple(pid for pid in ids if pid not in test)
        assert not set(test) & set(merged)
        assert not any((out / pid).exists() for pid in test)
        assert f"{', '.join(test)})" in Cohort.open(out).manifest.provenance
        kept += source.kept
    assert merged == tuple(kept)
    assert f"left out the test patients of fold {fold} of {folds}, split seed {seed}" in (
        Cohort.open(out).manifest.provenance
    )


def test_link_makes_absolute_links_that_a_replacement_does_not_follow(
    sources: tuple[Path, Path], tmp_path: Path
) -> None:
    out = tmp_path / "mixed"
    merge_cohorts(sources, out, link=True)
    for pid in Cohort.open(out).patients:
        source = sources[0] if pid.startswith("R") else sources[1]
        assert (out / pid).is_symlink()
        assert (out / pid).readlink() == (source / pid).resolve()
    assert check_cohort(out) == []
    before = [files_of(source) for source in sources]
    merge_cohorts(sources, out, overwrite=True)  # replacing it deletes links, not the data
    assert [files_of(source) for source in sources] == before
    assert not any(p.is_symlink() for p in out.iterdir())


def test_an_interrupted_merge_leaves_nothing(
    sources: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copies, copytree = [], shutil.copytree

    def copy_then_interrupt(source: Path, destination: Path) -> None:
        if copies:
            raise KeyboardInterrupt
        copies.append(copytree(source, destination))

    monkeypatch.setattr("mrsisr.data.merge.shutil.copytree", copy_then_interrupt)
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(KeyboardInterrupt):
        merge_cohorts(sources, tmp_path / "mixed")
    assert copies  # it had begun
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_mixing_patients_with_and_without_noiseless_maps_warns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    first = write_cohort(tmp_path / "a", ("R001", "R002"), noiseless=True)
    second = write_cohort(tmp_path / "b", ("W001",))
    with caplog.at_level(logging.WARNING, logger="mrsisr.data.merge"):
        merge_cohorts([first, second], tmp_path / "mixed")
    assert "1 of 3 merged patients have no noiseless maps (b/W001): train" in caplog.text
    caplog.clear()  # all with, or all without: nothing to say
    third = write_cohort(tmp_path / "c", ("W001",), noiseless=True)
    fourth = write_cohort(tmp_path / "d", ("R001",))
    with caplog.at_level(logging.WARNING, logger="mrsisr.data.merge"):
        merge_cohorts([first, third], tmp_path / "with")
        merge_cohorts([fourth, second], tmp_path / "without")
    assert caplog.text == ""


def test_leave_out_checks_its_values() -> None:
    for args, name in [((2, 0), "folds 2"), ((3, 3), "fold 3"), ((3, -1), "fold -1")]:
        with pytest.raises(UserError, match=name):
            LeaveOut(*args)
    with pytest.raises(UserError, match="split_seed -1"):
        LeaveOut(3, 0, -1)


def _other(tmp: Path, **changes: object) -> Path:
    """A second cohort differing from the fixture's in ``changes`` (shape, manifest fields)."""
    return write_cohort(tmp / "other", REALISTIC, **changes)  # type: ignore[arg-type]


def _not_a_cohort(tmp: Path) -> Path:
    shutil.copytree(tmp / "realistic", tmp / "plain")
    (tmp / "plain" / "cohort.json").unlink()
    return tmp / "plain"


def _full_folder(tmp: Path) -> Path:
    (tmp / "taken").mkdir()
    (tmp / "taken" / "notes.txt").write_text("mine")
    return tmp / "taken"


# (id, setup(tmp_path, first, second) -> (sources, out, options), what the message says: {name}
# is how it names an argument, the name itself from Python, a flag from the command).
REFUSALS = [
    ("not-a-cohort", lambda t, a, b: ([a, _not_a_cohort(t)], t / "m", {}), "plain/cohort.json"),
    ("missing", lambda t, a, b: ([a, t / "none"], t / "m", {}), "none: not a directory"),
    ("ids", lambda t, a, b: ([a, write_cohort(t / "c", ("W1", "R003"))], t / "m", {}),
     "patient ids R003 are also in"),
    ("metabolites", lambda t, a, b: ([a, _other(t, metabolites=("NAA",))], t / "m", {}),
     "metabolites NAA, but"),
    ("units", lambda t, a, b: ([a, _other(t, units="i.u.")], t / "m", {}), "units 'i.u.', but"),
    ("field", lambda t, a, b: ([a, _other(t, field_strength_t=3)], t / "m", {}),
     "field strength 3 T, but"),
    ("upsample", lambda t, a, b: ([a, _other(t, anatomy_upsample=2)], t / "m", {}),
     "anatomy_upsample 2, but"),
    ("field-of-view", lambda t, a, b: ([a, _other(t, shape=(9, 7, 3))], t / "m", {}),
     "maps over 30.6 x 23.8 mm (9 x 7 grid of 3.4 x 3.4 mm voxels), "),
    ("finer-grid-wider-view", lambda t, a, b: ([a, _other(t, shape=(16, 14, 3))], t / "m", {}),
     "over 54.4 x 47.6 mm (16 x 14 grid of 3.4 x 3.4 mm voxels), "),
    ("coarser-voxels", lambda t, a, b: ([a, _other(t, voxel_mm=1.7)], t / "m", {}),
     "over 13.6 x 11.9 mm (8 x 7 grid of 1.7 x 1.7 mm voxels), "),
    ("twice", lambda t, a, b: ([a, b, t / "realistic" / ".." / "realistic"], t / "m", {}),
     "given twice"),
    ("one", lambda t, a, b: ([a], t / "m", {}), "{sources}: give at least two cohorts, got 1"),
    ("folds", lambda t, a, b: ([a, b], t / "m", {"leave_out": LeaveOut(7, 0)}),
     "realistic: 6 patients, too few for {folds} 7; a split of it has at most 6 folds"),
    ("out-full", lambda t, a, b: ([a, b], _full_folder(t), {"overwrite": True}),
     "taken: exists and is not empty; choose a new folder"),
    ("out-cohort", lambda t, a, b: ([a, b], write_cohort(t / "old", ("X1",)), {}),
     "old: exists and is not empty; choose a new folder {overwrite} replaces a cohort"),
    ("out-inside", lambda t, a, b: ([a, b], a / "mixed", {}),
     "randomised/mixed: inside the source"),
    ("out-is-source", lambda t, a, b: ([a, b], b, {"overwrite": True}), "inside the source"),
    ("out-holds-source", lambda t, a, b: ([a, b], t, {"overwrite": True}), "holds the source"),
]  # fmt: skip


def tree(root: Path) -> dict[str, bytes]:
    """Every file and folder below ``root``: what a refused merge must leave as it was."""
    return {p.relative_to(root).as_posix(): p.read_bytes() if p.is_file() else b"/"
            for p in root.rglob("*")}  # fmt: skip


@pytest.mark.parametrize(
    ("setup", "message"), [c[1:] for c in REFUSALS], ids=[c[0] for c in REFUSALS]
)
def test_each_refusal_is_one_line_and_writes_nothing(
    sources: tuple[Path, Path], tmp_path: Path, setup, message: str
) -> None:
    given, out, options = setup(tmp_path, *sources)
    before = tree(tmp_path)
    with pytest.raises(UserError) as refused:
        merge_cohorts(given, out, **options)
    names = {name: name for name in FLAGS}
    assert message.format(**names) in str(refused.value) and "\n" not in str(refused.value)
    assert tree(tmp_path) == before


def command(given: list[Path], out: Path, options: dict) -> list[str]:
    """The ``mrsisr cohort merge`` command line of a library call."""
    flags = ["--force"] if options.get("overwrite") else []
    flags += ["--link"] if options.get("link") else []
    if (leave_out := options.get("leave_out")) is not None:
        flags += ["--leave-out-test", "--folds", str(leave_out.folds), "--fold",
                  str(leave_out.fold), "--split-seed", str(leave_out.split_seed)]  # fmt: skip
    return ["cohort", "merge", *map(str, given), "--out", str(out), *flags]


@pytest.mark.parametrize(
    ("setup", "message"), [c[1:] for c in REFUSALS], ids=[c[0] for c in REFUSALS]
)
def test_each_refusal_of_the_command_exits_2_with_one_line_and_writes_nothing(
    sources: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture, setup, message: str
) -> None:
    argv = command(*setup(tmp_path, *sources))
    before = tree(tmp_path)
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("mrsisr cohort: error: ")
    assert message.format(**FLAGS) in lines[0]
    assert tree(tmp_path) == before


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--fold", "0"], "--fold: only with --leave-out-test"),
        (["--folds", "3", "--split-seed", "1"],
         "--folds, --split-seed: only with --leave-out-test"),
        (["--leave-out-test", "--fold", "0"], "--leave-out-test: give --folds, the split"),
        (["--leave-out-test"], "--leave-out-test: give --folds and --fold, the split"),
        (["--leave-out-test", "--folds", "3", "--fold", "3"],
         "--fold 3: must be in 0..2 (--folds 3)"),
        (["--leave-out-test", "--folds", "2", "--fold", "0"], "--folds 2: must be at least 3"),
        (["--leave-out-test", "--folds", "3", "--fold", "0", "--split-seed", "-1"],
         "--split-seed -1: must be in 0..2**63 - 1"),
    ],
)  # fmt: skip
def test_the_split_flags_go_together(
    sources: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture, flags, message
) -> None:
    before = tree(tmp_path)
    assert main(["cohort", "merge", *map(str, sources), "--out", str(tmp_path / "m"), *flags]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and message in lines[0]
    assert tree(tmp_path) == before


@pytest.mark.parametrize("link", [False, True])
def test_the_command_merges_and_says_so_in_one_line(
    sources: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture, link: bool
) -> None:
    out = tmp_path / "mixed"
    argv = command(list(sources), out, {"leave_out": LeaveOut(3, 1, 4), "link": link})
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"{'linked' if link else 'copied'} 9 patients of 2 cohorts to {out}")
    assert "left out 4 (the test patients of fold 1 of 3, split seed 4)" in lines[0]
    test = [fold_split(ids, 3, 4, 1).test for ids in (RANDOMISED, REALISTIC)]
    kept = [
        pid for ids, left in zip((RANDOMISED, REALISTIC), test) for pid in ids if pid not in left
    ]
    assert Cohort.open(out).patients == tuple(kept)
    assert all((out / pid).is_symlink() == link for pid in kept)
