"""Patient-wise k-fold cross-validation splits, saved as JSON so a run records its split.

With ``K`` folds, split ``k`` tests on fold ``k``, validates on fold ``k + 1 (mod K)`` and
trains on the other ``K - 2`` folds: every patient is tested exactly once over the ``K``
splits, and no patient is ever in two parts of one split. With the paper's 15 patients and
5 folds that is 9 / 3 / 3 patients for training / validation / testing.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mrsisr.errors import UserError
from mrsisr.untrusted import read_json

__all__ = ["Split", "fold_split", "kfold_splits", "load_splits", "save_splits"]

_FORMAT = "mrsisr-splits"
_VERSION = 1
_PARTS = ("train", "val", "test")


@dataclass(frozen=True)
class Split:
    """The patient ids of one cross-validation fold, in three disjoint parts."""

    train: tuple[str, ...]
    val: tuple[str, ...]
    test: tuple[str, ...]

    def __post_init__(self) -> None:
        for name in ("train", "val", "test"):
            object.__setattr__(self, name, tuple(str(p) for p in getattr(self, name)))
        parts = {"train": self.train, "val": self.val, "test": self.test}
        seen: dict[str, str] = {}
        for name, ids in parts.items():
            for pid in ids:
                if pid in seen:
                    raise ValueError(f"patient {pid!r} is in both {seen[pid]} and {name}")
                seen[pid] = name

    @property
    def patients(self) -> tuple[str, ...]:
        """All patients of the split: train, then validation, then test."""
        return self.train + self.val + self.test

    def to_dict(self) -> dict[str, list[str]]:
        """A JSON-ready ``{"train": [...], "val": [...], "test": [...]}``."""
        return {"train": list(self.train), "val": list(self.val), "test": list(self.test)}


def kfold_splits(patient_ids: Iterable[str], folds: int = 5, seed: int = 0) -> list[Split]:
    """Patient-wise ``folds``-fold splits: test = fold k, validation = fold k+1, train = rest.

    Patients are shuffled with ``seed`` and dealt into ``folds`` folds whose sizes differ by
    at most one. Within each part, patients keep the order of ``patient_ids``.

    Args:
        patient_ids: unique patient ids (at least ``folds`` of them).
        folds: number of folds ``K >= 3`` (one for test, one for validation, >= 1 for train).
        seed: seed of the shuffle; the same ids and seed always give the same splits.

    Returns:
        ``folds`` splits; split ``k`` tests on fold ``k``.
    """
    ids = [str(p) for p in patient_ids]
    if len(set(ids)) != len(ids):
        duplicates = sorted({p for p in ids if ids.count(p) > 1})
        raise ValueError(f"patient_ids must be unique; repeated: {', '.join(duplicates)}")
    if folds < 3:
        raise ValueError(f"folds must be >= 3 (test, validation and training folds), got {folds}")
    if len(ids) < folds:
        raise ValueError(f"folds={folds} needs at least {folds} patients, got {len(ids)}")
    order = np.random.default_rng(seed).permutation(len(ids))
    fold_of = np.empty(len(ids), dtype=np.int64)
    for fold, dealt in enumerate(np.array_split(order, folds)):
        fold_of[dealt] = fold

    def members(fold: int) -> tuple[str, ...]:
        return tuple(pid for pid, f in zip(ids, fold_of) if f == fold)

    splits = []
    for k in range(folds):
        val_fold = (k + 1) % folds
        train = tuple(pid for pid, f in zip(ids, fold_of) if f not in (k, val_fold))
        splits.append(Split(train=train, val=members(val_fold), test=members(k)))
    return splits


def save_splits(path: str | os.PathLike[str], splits: Sequence[Split]) -> Path:
    """Write splits to a JSON file (``{"format", "version", "splits": [{train, val, test}]}``).

    Args:
        path: the file to write.
        splits: the splits, e.g. from :func:`kfold_splits`, or the one split a run used.

    Returns:
        The path written.
    """
    path = Path(path)
    document = {
        "format": _FORMAT,
        "version": _VERSION,
        "splits": [split.to_dict() for split in splits],
    }
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return path


def fold_split(patient_ids: Iterable[str], folds: int, seed: int, fold: int) -> Split:
    """The split of fold ``fold``: the one place that says which patients a fold holds out.

    Training (:func:`mrsisr.train.plan.plan_run`), evaluation and reproduction all ask here.

    Args:
        patient_ids: the cohort's patient ids.
        folds: number of folds (:func:`kfold_splits`).
        seed: seed of the split.
        fold: which fold, ``0 <= fold < folds``.

    Raises:
        ValueError: ``fold`` out of range, or the cohort cannot be split so.
    """
    if not 0 <= fold < folds:
        raise ValueError(f"fold {fold} must be in 0..{folds - 1}")
    return kfold_splits(patient_ids, folds, seed)[fold]


def load_splits(path: str | os.PathLike[str]) -> list[Split]:
    """Read splits written by :func:`save_splits`.

    Raises:
        UserError: naming the file, if it is missing, not JSON or not a splits file.
    """
    path = Path(path)
    expected = 'a JSON object {"format": "mrsisr-splits", "splits": [{"train", "val", "test"}]}'
    document = read_json(path, expected)
    if not isinstance(document, dict) or document.get("format") != _FORMAT:
        raise UserError(f"{path}: not a splits file; expected {expected}")
    if document.get("version") != _VERSION or isinstance(document.get("version"), bool):
        raise UserError(
            f"{path}: unsupported splits version {document.get('version')!r}; "
            f"this mrsisr reads version {_VERSION}"
        )
    unknown = sorted(set(document) - {"format", "version", "splits"})
    if unknown or not isinstance(document.get("splits", []), list):
        what = f"unknown key {unknown[0]!r}" if unknown else "'splits' is not a list"
        raise UserError(f"{path}: {what}; expected {expected}")
    splits = []
    for number, entry in enumerate(document.get("splits", [])):
        parts = [entry.get(k) if isinstance(entry, dict) else None for k in _PARTS]
        if (
            not isinstance(entry, dict)
            or set(entry) != set(_PARTS)
            or not all(isinstance(p, list) and all(isinstance(i, str) for i in p) for p in parts)
        ):
            raise UserError(
                f"{path}: split {number} must hold lists of patient ids under "
                f"{', '.join(_PARTS)}; expected {expected}"
            )
        try:
            split = Split(*(tuple(p or ()) for p in parts))
        except ValueError as err:
            raise UserError(f"{path}: split {number} is invalid: {err}") from None
        splits.append(split)
    return splits
