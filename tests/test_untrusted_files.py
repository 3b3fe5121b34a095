"""Fuzzing every file a user may have been sent (issue 17): model files, training checkpoints,
``cohort.json``, ``split.json``, ``run.json``, TOML configurations, prediction manifests.

Each test mutates a valid file at random (wrong types, huge or negative integers, NaN and
infinities, deep nesting, unknown variants and keys, deleted keys, truncation) and checks
the one property the program promises: the reader either accepts the file or raises a
one-line :class:`~mrsisr.errors.UserError` naming it -- never another exception. Most
examples run in-process; :func:`test_mutated_files_stay_within_a_memory_bound` reads a batch
of them in a subprocess limited to 3 GiB of address space, and the end-to-end tests run the
command line there (exit code 2, one line on stderr, no traceback).
"""

from __future__ import annotations

import csv
import json
import math
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.torch import save_file

from mrsisr.checkpoint import load_model, save_model
from mrsisr.data.check import check_cohort
from mrsisr.data.manifest import Manifest, read_manifest
from mrsisr.data.nifti import MAX_SIDE, load_volume
from mrsisr.data.splits import Split, load_splits, save_splits
from mrsisr.errors import UserError
from mrsisr.nn.variants import build_generator
from mrsisr.predict import plan_jobs
from mrsisr.train.config_io import config_to_dict, load_config
from mrsisr.train.plan import RunFiles, _stored_run
from mrsisr.train.state import load_state, save_state

FUZZ = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
MEMORY_LIMIT = 3 * 2**30
TINY = {"grid": [16, 16], "channels": [2, 4], "mlp_depth": 1, "filter_latent": 2, "norm_latent": 2}
DEEP = "__deep__"  # replaced by 100 000 nested lists in the file's text

BAD_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.sampled_from([10**30, -(10**30), 2**63, -1, 0, 65536]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["unknown", "full ", "", "../../etc", DEEP]),
    st.lists(st.integers(-(2**40), 2**40), max_size=4),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
)


@st.composite
def mutated(draw: st.DrawFn, doc: Any) -> Any:
    """``doc`` with one value replaced, one key deleted or one unknown key added."""
    doc = json.loads(json.dumps(doc))
    node, key = None, None
    target = doc
    while isinstance(target, (dict, list)) and target and draw(st.booleans()):
        keys = list(target) if isinstance(target, dict) else list(range(len(target)))
        node, key = target, draw(st.sampled_from(keys))
        target = node[key]
    action = draw(st.sampled_from(["replace", "delete", "add"]))
    if node is None or (action == "add" and not isinstance(node, dict)):
        if isinstance(doc, dict) and action != "replace":
            doc[draw(st.text(min_size=1, max_size=8))] = draw(BAD_VALUES)
            return doc
        return draw(BAD_VALUES)
    if action == "delete" and isinstance(node, dict):
        del node[key]
    elif action == "add":
        node[draw(st.text(min_size=1, max_size=8))] = draw(BAD_VALUES)
    else:
        node[key] = draw(BAD_VALUES)
    return doc


def as_json(doc: Any) -> str:
    text = json.dumps(doc)  # NaN and Infinity as Python writes them
    return text.replace(json.dumps(DEEP), "[" * 100_000 + "]" * 100_000)


def truncated(draw: st.DrawFn, text: str) -> str:
    return text[: draw(st.integers(0, max(0, len(text) - 1)))] if draw(st.booleans()) else text


def assert_refused_in_one_line_or_accepted(read, path: Path) -> None:
    """``read(path)`` succeeds or raises a one-line UserError naming ``path``."""
    try:
        read(path)
    except UserError as err:
        message = str(err)
        assert "\n" not in message, message
        assert str(path.name) in message or str(path.parent) in message, message


# --- model files ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_state() -> dict[str, torch.Tensor]:
    return build_generator("full", **TINY).state_dict()


def valid_model_header() -> dict[str, Any]:
    return {
        "format": "mrsisr-model",
        "format_version": 1,
        "variant": "full",
        "config": dict(TINY),
        "metadata": {"fold": 0, "n_choices": [8, 12], "split": {"test": ["P1"]}},
    }


@pytest.mark.slow
@FUZZ
@given(data=st.data())
def test_mutated_model_headers_are_refused_in_one_line(tmp_path, tiny_state, data) -> None:
    header = data.draw(mutated(valid_model_header()))
    path = tmp_path / "m.safetensors"
    text = truncated(data.draw, as_json(header))
    save_file(tiny_state, str(path), metadata={"mrsisr": text})
    assert_refused_in_one_line_or_accepted(load_model, path)


@pytest.mark.slow
@FUZZ
@given(data=st.data())
def test_truncated_or_corrupted_model_files_are_refused_in_one_line(
    tmp_path, tiny_state, data
) -> None:
    path = tmp_path / "m.safetensors"
    save_model(path, build_generator("full", **TINY), "full", TINY)
    raw = bytearray(path.read_bytes())
    if data.draw(st.booleans()):
        raw = raw[: data.draw(st.integers(0, len(raw) - 1))]
    else:  # overwrite some bytes of the safetensors header (lengths, offsets, dtypes, shapes)
        at = data.draw(st.integers(0, min(len(raw), 2000) - 1))
        raw[at : at + 4] = data.draw(st.binary(min_size=1, max_size=4))
    path.write_bytes(bytes(raw))
    assert_refused_in_one_line_or_accepted(load_model, path)


# --- training checkpoints ------------------------------------------------------------------


@pytest.mark.slow
@FUZZ
@given(data=st.data())
def test_mutated_training_checkpoints_are_refused_in_one_line(tmp_path, data) -> None:
    model = build_generator("full", **TINY)
    path = tmp_path / "checkpoint.safetensors"
    meta = {"epoch": 1, "step": 3, "history": [{"val_loss": 0.5}], "best": {"val_loss": 0.5}}
    save_state(path, {"generator": model.state_dict()}, {**meta, "config_hash": "abc"})
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as fh:
        header = json.loads(fh.metadata()["mrsisr_train_state"])
        tensors = {k: fh.get_tensor(k) for k in fh.keys()}
    text = truncated(data.draw, as_json(data.draw(mutated(header))))
    save_file(tensors, str(path), metadata={"mrsisr_train_state": text})

    def read(p: Path) -> None:
        from mrsisr.train.state import check_resume_metadata

        _, loaded = load_state(p, expect={"generator": model})
        check_resume_metadata(p, loaded)

    assert_refused_in_one_line_or_accepted(read, path)


# --- cohort.json, split.json, run.json -------------------------------------------------------


@FUZZ
@given(data=st.data())
def test_mutated_cohort_manifests_are_refused_in_one_line(tmp_path, data) -> None:
    doc = Manifest(("P1", "P2"), ("tCho", "NAA"), "mM", 7.0, "test").to_json()
    folder = tmp_path / "cohort"
    folder.mkdir(exist_ok=True)
    path = folder / "cohort.json"
    path.write_text(truncated(data.draw, as_json(data.draw(mutated(doc)))))
    assert_refused_in_one_line_or_accepted(lambda p: read_manifest(p.parent), path)
    for problem in check_cohort(folder):  # the checker reports, one line per problem
        assert "\n" not in str(problem)


@FUZZ
@given(data=st.data())
def test_mutated_split_files_are_refused_in_one_line(tmp_path, data) -> None:
    path = save_splits(tmp_path / "split.json", [Split(("A", "B"), ("C",), ("D",))])
    doc = json.loads(path.read_text())
    path.write_text(truncated(data.draw, as_json(data.draw(mutated(doc)))))
    assert_refused_in_one_line_or_accepted(load_splits, path)


@FUZZ
@given(data=st.data())
def test_mutated_run_files_are_refused_in_one_line(tmp_path, data) -> None:
    doc = {"data": "/cohort", "fold": 0, "variant": "full", "config_hash": "x", "world_size": 1}
    files = RunFiles(tmp_path)
    files.run.write_text(truncated(data.draw, as_json(data.draw(mutated(doc)))))
    assert_refused_in_one_line_or_accepted(lambda p: _stored_run(files), files.run)


# --- TOML configurations ---------------------------------------------------------------------


def toml_value(value: Any) -> str:
    if value == DEEP:
        return "[" * 100_000 + "]" * 100_000
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value if v is not None) + "]"
    if isinstance(value, dict):
        items = (f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items() if v is not None)
        return "{" + ", ".join(items) + "}"
    raise TypeError(value)


def as_toml(doc: Any) -> str:
    if not isinstance(doc, dict):
        return f"value = {toml_value(doc)}" if doc is not None else ""
    return "\n".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in doc.items() if v is not None)


@pytest.mark.slow
@FUZZ
@given(data=st.data())
def test_mutated_toml_configurations_are_refused_in_one_line(tmp_path, data) -> None:
    doc = config_to_dict(load_config("tiny"))
    path = tmp_path / "config.toml"
    path.write_text(truncated(data.draw, as_toml(data.draw(mutated(doc)))))
    assert_refused_in_one_line_or_accepted(load_config, path)


# --- prediction manifests (CSV) ---------------------------------------------------------------


@FUZZ
@given(data=st.data())
def test_mutated_prediction_manifests_are_refused_in_one_line(tmp_path, data) -> None:
    rows = [["patient", "metabolite", "met", "t1", "flair", "mask"]]
    rows += [["P1", "tCho", "lr.nii.gz", "t1.nii.gz", "flair.nii.gz", ""]]
    row = data.draw(st.integers(0, 1))
    col = data.draw(st.integers(0, 5))
    rows[row][col] = data.draw(st.one_of(st.text(max_size=30), st.just("x" * 10_000)))
    if data.draw(st.booleans()):
        del rows[row][col]
    path = tmp_path / "batch.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)
    path.write_text(truncated(data.draw, path.read_text(encoding="utf-8")), encoding="utf-8")
    args = dict(met=None, metabolites=None, t1=None, flair=None, mask=None)
    assert_refused_in_one_line_or_accepted(
        lambda p: plan_jobs(**args, manifest=p, out=tmp_path / "out"), path
    )


@FUZZ
@given(data=st.data())
def test_mutated_run_metrics_are_refused_in_one_line(tmp_path, data) -> None:
    """A reproduction sums a reused run's ``metrics.csv`` (the run folder may be sent)."""
    from mrsisr.experiments.runs import _history

    rows = [["epoch", "step", "epoch_s", "val_loss"], ["1", "3", "2.5", "0.4"]]
    rows[1][data.draw(st.integers(0, 3))] = data.draw(
        st.one_of(st.text(max_size=10), st.sampled_from(["nan", "inf", "-1", "1e400", ""]))
    )
    path = tmp_path / "metrics.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)

    def read(p: Path) -> None:  # what ensure_run computes from the rows it accepts
        history = _history(p.parent)
        assert math.isfinite(sum(float(row.get("epoch_s") or 0.0) for row in history))
        assert int(float(history[-1]["step"])) >= 0

    assert_refused_in_one_line_or_accepted(read, path)


# --- NIfTI headers ----------------------------------------------------------------------------


def with_declared_shape(path: Path, shape: tuple[int, ...]) -> Path:
    """A small ``.nii`` file whose header declares ``shape`` (its data are not that large)."""
    nib.save(nib.Nifti1Image(np.zeros((4, 4, 4), np.float32), np.eye(4)), str(path))
    raw = bytearray(path.read_bytes())
    dims = np.array([len(shape), *shape, *([1] * (7 - len(shape)))], dtype="<i2")
    raw[40:56] = dims.tobytes()  # NIfTI-1 'dim' field
    path.write_bytes(bytes(raw))
    return path


def test_a_nifti_header_declaring_a_huge_image_is_refused_before_reading(tmp_path) -> None:
    path = with_declared_shape(tmp_path / "huge.nii", (MAX_SIDE + 1, 30000, 30000))
    with pytest.raises(UserError, match=r"huge\.nii: its header declares a 2049x30000x30000"):
        load_volume(path)


# --- memory bound and end to end ----------------------------------------------------------------

_READER = """
import json, sys
from pathlib import Path
from mrsisr.checkpoint import load_model
from mrsisr.errors import UserError
from mrsisr.train.config_io import load_config
from mrsisr.data.splits import load_splits
from mrsisr.data.manifest import read_manifest
readers = {
    ".safetensors": load_model,
    ".toml": load_config,
    ".json": lambda p: read_manifest(p.parent) if p.name == "cohort.json" else load_splits(p),
}
for name in sys.argv[1:]:
    path = Path(name)
    try:
        readers[path.suffix](path)
        print(json.dumps(["ok", ""]))
    except UserError as err:
        print(json.dumps(["refused", str(err)]))
"""


def limited_run(args: list[str]) -> subprocess.CompletedProcess:
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))

    return subprocess.run(
        args, capture_output=True, text=True, preexec_fn=limit, timeout=120, check=False
    )


@pytest.mark.slow
@settings(max_examples=1, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_mutated_files_stay_within_a_memory_bound(tmp_path_factory, data) -> None:
    folder = tmp_path_factory.mktemp("batch")
    state = build_generator("full", **TINY).state_dict()
    files = [with_huge := folder / "attack.safetensors"]
    huge = {**valid_model_header(), "config": {"channels": [4096, 8192, 16384, 32768, 65536]}}
    save_file({"x": torch.zeros(1)}, str(with_huge), metadata={"mrsisr": json.dumps(huge)})
    for i in range(10):
        path = folder / f"model{i}.safetensors"
        header = as_json(data.draw(mutated(valid_model_header())))
        save_file(state, str(path), metadata={"mrsisr": header})
        files.append(path)
        path = folder / f"config{i}.toml"
        path.write_text(as_toml(data.draw(mutated(config_to_dict(load_config("tiny"))))))
        files.append(path)
        path = save_splits(folder / f"split{i}.json", [Split(("A",), ("B",), ("C",))])
        path.write_text(as_json(data.draw(mutated(json.loads(path.read_text())))))
        files.append(path)
        (folder / f"cohort{i}").mkdir()
        path = folder / f"cohort{i}" / "cohort.json"
        cohort = Manifest(("P1",), ("tCho",), "mM", 3.0, "test").to_json()
        path.write_text(as_json(data.draw(mutated(cohort))))
        files.append(path)
    result = limited_run([sys.executable, "-c", _READER, *map(str, files)])
    assert result.returncode == 0, result.stderr[-2000:]
    outcomes = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(outcomes) == len(files)
    assert outcomes[0][0] == "refused" and "channels must be in 1..1024" in outcomes[0][1]
    assert all("\n" not in message for _, message in outcomes)


def assert_one_line_exit_2(result: subprocess.CompletedProcess, message: str) -> None:
    """Exit 2; the error is one line, the last on stderr (after any progress log)."""
    assert result.returncode == 2, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert [line for line in lines if ": error: " in line] == lines[-1:], result.stderr[-2000:]
    assert "Traceback" not in result.stderr and message in lines[-1]


@pytest.mark.slow
def test_the_issue_attack_fails_in_one_line_from_the_command_line(tmp_path) -> None:
    """Regression (issue 17): the CLI path, within 3 GiB, exit 2, one line, no traceback."""
    model = tmp_path / "evil.safetensors"
    huge = {**valid_model_header(), "config": {"channels": [4096, 8192, 16384, 32768, 65536]}}
    save_file({"x": torch.zeros(1)}, str(model), metadata={"mrsisr": json.dumps(huge)})
    nib.save(nib.Nifti1Image(np.ones((8, 8, 2), np.float32), np.eye(4)), str(tmp_path / "m.nii"))
    args = ["--met", "m.nii", "--metabolite", "tCho", "--t1", "m.nii", "--flair", "m.nii"]
    cli = [sys.executable, "-m", "mrsisr.cli", "predict", "--model", str(model)]
    result = limited_run(
        [
            *cli,
            *[str(tmp_path / a) if ".nii" in a else a for a in args],
            "--out",
            str(tmp_path / "out.nii.gz"),
        ]
    )
    assert_one_line_exit_2(result, "evil.safetensors: header field 'config': channels")


@pytest.mark.slow
def test_a_map_declaring_a_grid_beyond_the_model_is_refused_from_the_command_line(
    tmp_path,
) -> None:
    big = with_declared_shape(tmp_path / "lr_tCho.nii", (30000, 30000, 2))
    anat = tmp_path / "t1.nii"
    nib.save(nib.Nifti1Image(np.ones((8, 8, 2), np.float32), np.eye(4)), str(anat))
    cli = [sys.executable, "-m", "mrsisr.cli", "predict", "--met", str(big), "--t1", str(anat)]
    result = limited_run([*cli, "--flair", str(anat), "--out", str(tmp_path / "o.nii.gz")])
    assert_one_line_exit_2(result, "lr_tCho.nii: its header declares a 30000x30000x2 image")


@pytest.mark.slow
def test_a_bad_toml_configuration_fails_in_one_line_from_the_command_line(tmp_path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("[loss]\nms_ssim_scales = 100000000000000000000\n")
    cli = [sys.executable, "-m", "mrsisr.cli", "train", "--config", str(config)]
    result = limited_run(
        [*cli, "--data", str(tmp_path), "--fold", "0", "--out", str(tmp_path / "r")]
    )
    assert_one_line_exit_2(result, "loss.ms_ssim_scales")


# --- the must-refuse side: values known to be invalid are refused, not merely survived -----

INVALID_MODEL_METADATA = st.one_of(
    st.tuples(  # lam_range: negative, NaN or infinite bounds, low > high, wrong length or type
        st.just("lam_range"),
        st.one_of(
            st.tuples(st.floats(max_value=-1e-9, allow_infinity=True), st.floats(0, 1)).map(list),
            st.tuples(st.floats(0, 1), st.sampled_from([math.nan, math.inf, -1.0])).map(list),
            st.tuples(st.floats(0.5, 1), st.floats(0, 0.49)).map(list),
            st.lists(st.floats(0, 1), min_size=3, max_size=4),
            st.lists(st.floats(0, 1), max_size=1),
            st.sampled_from([[True, True], ["0", "0.1"], None, 0.1, {"low": 0}]),
        ),
    ),
    st.tuples(  # n_choices: sizes beyond the grid (16), below 1, or not integers
        st.just("n_choices"),
        st.one_of(
            st.lists(st.integers(17, 2**40), min_size=1, max_size=3),
            st.lists(st.integers(-(2**40), 0), min_size=1, max_size=3),
            st.lists(st.floats(1, 16), min_size=1, max_size=3).filter(
                lambda ns: any(not float(n).is_integer() for n in ns)
            ),
            st.sampled_from([[True], "8,12", 8, {"8": 12}]),
        ),
    ),
    st.tuples(st.just("fold"), st.one_of(st.integers(-(2**40), -1), st.just(1.5), st.just("0"))),
)


@FUZZ
@given(bad=INVALID_MODEL_METADATA)
def test_model_headers_with_invalid_metadata_are_refused(tmp_path, tiny_state, bad) -> None:
    key, value = bad
    header = valid_model_header()
    header["metadata"][key] = value
    path = tmp_path / "m.safetensors"
    save_file(tiny_state, str(path), metadata={"mrsisr": json.dumps(header)})
    with pytest.raises(UserError, match=f"metadata field '{key}'") as err:
        load_model(path)
    assert "\n" not in str(err.value) and path.name in str(err.value)


@FUZZ
@given(
    limits=st.one_of(
        st.builds(
            dict,
            snr_min=st.one_of(st.floats(max_value=-1e-9), st.just(math.nan), st.just(math.inf)),
        ),
        st.builds(
            dict,
            fwhm_max_ppm=st.one_of(st.floats(max_value=0.0), st.just(math.nan), st.just(math.inf)),
        ),
        st.builds(
            dict,
            crlb_max=st.one_of(st.floats(max_value=0.0), st.just(math.nan), st.just(math.inf)),
        ),
    )
)
def test_qc_limits_known_to_be_invalid_are_refused(limits) -> None:
    from mrsisr.pipelines import QualityThresholds

    with pytest.raises(UserError, match=r"^(snr_min|fwhm_max_ppm|crlb_max) ") as err:
        QualityThresholds(**limits).check()
    assert "\n" not in str(err.value)


@FUZZ
@given(
    label=st.one_of(
        st.text(min_size=1, max_size=6).filter(lambda t: not t.isascii() or not t.isalnum()),
        st.sampled_from(["01\n", "\n01", "..", "01 ", "sub-01", "", "ses_1", "0\r"]),
    )
)
def test_bids_labels_known_to_be_invalid_are_refused(label: str) -> None:
    from mrsisr.provenance import bids_label

    with pytest.raises(ValueError, match="a BIDS label has only letters and digits"):
        bids_label(label, "subject")
