"""Patient-wise k-fold splits: disjoint parts, each patient tested once, JSON round trip."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from mrsisr.data.splits import Split, kfold_splits, load_splits, save_splits
from mrsisr.errors import UserError

PATIENTS = [f"sub-{i:02d}" for i in range(15)]


def test_fifteen_patients_give_five_nine_three_three_splits():
    splits = kfold_splits(PATIENTS)
    assert len(splits) == 5
    for split in splits:
        assert (len(split.train), len(split.val), len(split.test)) == (9, 3, 3)
        assert sorted(split.patients) == sorted(PATIENTS)  # disjoint parts covering all


@pytest.mark.parametrize(("count", "folds"), [(15, 5), (7, 3), (10, 4), (6, 6)])
def test_every_patient_is_tested_once_and_validation_is_the_next_fold(count, folds):
    ids = [f"p{i}" for i in range(count)]
    splits = kfold_splits(ids, folds=folds, seed=3)
    assert Counter(p for s in splits for p in s.test) == Counter(ids)
    sizes = [len(s.test) for s in splits]
    assert max(sizes) - min(sizes) <= 1
    for k, split in enumerate(splits):
        assert split.val == splits[(k + 1) % folds].test
        assert not set(split.train) & (set(split.val) | set(split.test))
        assert len(split.train) + len(split.val) + len(split.test) == count


def test_parts_keep_the_input_order_and_seeds_are_reproducible():
    splits = kfold_splits(PATIENTS, seed=1)
    for split in splits:
        for part in (split.train, split.val, split.test):
            assert list(part) == sorted(part, key=PATIENTS.index)
    assert kfold_splits(PATIENTS, seed=1) == splits
    assert kfold_splits(PATIENTS, seed=2) != splits


def test_json_round_trip(tmp_path):
    splits = kfold_splits(PATIENTS)
    path = save_splits(tmp_path / "splits.json", splits)
    assert load_splits(path) == splits
    assert json.loads(path.read_text())["splits"][0]["test"] == list(splits[0].test)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        ('{"format": "mrsisr-splits", "version": 1, "splits": 3}', "'splits' is not a list"),
        ('{"format": "mrsisr-splits", "version": 1, "splits": [], "x": 1}', "unknown key 'x'"),
        ('{"format": "mrsisr-splits", "version": NaN, "splits": []}', "NaN is not valid JSON"),
        ('{"format": "mrsisr-splits", "version": true, "splits": []}', "version True"),
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        ('{"format": "other"}', "not a splits file"),
        ('{"format": "mrsisr-splits", "version": 9, "splits": []}', "version"),
        ('{"format": "mrsisr-splits", "version": 1, "splits": [{"train": "ab"}]}', "lists"),
        (
            '{"format": "mrsisr-splits", "version": 1, '
            '"splits": [{"train": ["a"], "val": ["a"], "test": []}]}',
            "both train and val",
        ),
    ],
)
def test_bad_files_raise_user_errors_naming_the_file(tmp_path, content, message):
    path = tmp_path / "splits.json"
    path.write_text(content)
    with pytest.raises(UserError, match=message) as info:
        load_splits(path)
    assert str(path) in str(info.value)
    with pytest.raises(UserError, match="missing file"):
        load_splits(tmp_path / "missing.json")


def test_invalid_arguments_are_rejected():
    with pytest.raises(ValueError, match="folds must be >= 3"):
        kfold_splits(PATIENTS, folds=2)
    with pytest.raises(ValueError, match="at least 5 patients"):
        kfold_splits(PATIENTS[:4])
    with pytest.raises(ValueError, match="repeated: a"):
        kfold_splits(["a", "b", "a", "c", "d"], folds=3)
    with pytest.raises(ValueError, match="both train and test"):
        Split(train=("a",), val=(), test=("a",))
