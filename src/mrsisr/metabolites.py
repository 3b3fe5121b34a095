"""The metabolites the networks know, in a fixed order (their embedding index), and the one
normaliser of metabolite names used for file names, names given by the user and the cohort
format.

Quantification tools spell the same quantity in many ways: FSL-MRS joins the basis names it
was told to combine with ``+`` in the order they were typed (``PCho+GPC``), the Vienna 7T
pipeline writes LCModel's ``GPC+PCh``, MRSIPrep runs the names together (``GPCPCh``,
``CrPCr``, ``NAANAAG``). :func:`normalise_name` reads all of them:

* ``+``-joined or run-together components are an unordered set: {GPC, PCh} → tCho,
  {Cr, PCr} → tCr, {NAA, NAAG} → NAA (``PCho`` is FSL-MRS's name for PCh);
* totals by name: ``tCho``/``Cho``, ``tCr``, ``tNAA``; ``mI``/``myo-Ins`` → Ins;
  case does not matter;
* one component of a total (``Cr``, ``PCh``, ``NAA`` alone) gives the total with
  :attr:`NameMatch.partial` set: the model was trained on the total, so callers accept it
  only when the total itself is absent, and say so.

:func:`metabolite_from_filename` finds the name inside a file name and refuses, with
:class:`NotAConcentration`, names that mark a map that is not a concentration (``_sd``,
``_std``, ``_snr``, ``_fwhm``, ``_linewidth``, ``_crlb``, ``RatTo…``, ``ratio``,
``fit_failed``, masks): such maps are never super-resolved.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from mrsisr.errors import argument
from mrsisr.options import StrEnum

__all__ = [
    "METABOLITES",
    "Metabolite",
    "NameMatch",
    "NotAConcentration",
    "index_of",
    "metabolite_from_filename",
    "metabolite_of_file",
    "normalise_name",
    "parse_metabolite",
]


class Metabolite(StrEnum):
    """Metabolite names as written in files and on the command line."""

    tCho = "tCho"  # total choline (GPC + PCh)
    tCr = "tCr"  # total creatine (Cr + PCr)
    NAA = "NAA"  # N-acetylaspartate (+ NAAG where not separated)
    Gly = "Gly"  # glycine
    Gln = "Gln"  # glutamine
    Glu = "Glu"  # glutamate
    Ins = "Ins"  # myo-inositol


METABOLITES: tuple[Metabolite, ...] = tuple(Metabolite)

# The components of each total by their canonical (lower-case) basis names, the one with
# the larger healthy-brain concentration first (literature means, grey / white matter, mM:
# Cr 5.3 / 4.9 vs PCr 2.5 / 2.2; GPC 0.71 / 1.02 vs PCh 0.59 / 0.63; NAA 8.3 / 8.8 vs NAAG
# 0.9 / 2.4): of several lone components, readers use the first.
_COMPONENTS: dict[Metabolite, tuple[str, ...]] = {
    Metabolite.tCho: ("gpc", "pch"),
    Metabolite.tCr: ("cr", "pcr"),
    Metabolite.NAA: ("naa", "naag"),
}
# How the totals are written when a message names them.
_TOTAL_LABEL = {Metabolite.tCho: "GPC+PCh", Metabolite.tCr: "Cr+PCr", Metabolite.NAA: "NAA+NAAG"}
# Every spelling of a component; FSL-MRS's MRSI basis calls phosphocholine "PCho".
_SPELLINGS = {**{c: c for parts in _COMPONENTS.values() for c in parts}, "pcho": "pch"}
# A run-together name such as "GPCPCh" or "NAANAAG": the longest spelling first at each place.
_RUN_TOGETHER = re.compile("|".join(sorted(_SPELLINGS, key=len, reverse=True)))

# Whole names that mean a total, or a metabolite without components (lower case).
_NAMES = {
    **{m.value.lower(): m for m in METABOLITES},
    "cho": Metabolite.tCho,  # LCModel's and most tools' "total choline"
    "tch": Metabolite.tCho,
    "tnaa": Metabolite.NAA,
    "mi": Metabolite.Ins,
    "myo": Metabolite.Ins,
    "mins": Metabolite.Ins,
    "myoins": Metabolite.Ins,
    "myo-ins": Metabolite.Ins,
    "myo-inositol": Metabolite.Ins,
    "inositol": Metabolite.Ins,
}

# File-name tokens that mark a map that is not a concentration, with the reason.
_NOT_CONCENTRATION = {
    "sd": "a standard-deviation map",
    "std": "a standard-deviation map",
    "snr": "a signal-to-noise map",
    "fwhm": "a linewidth map",
    "linewidth": "a linewidth map",
    "crlb": "a Cramér-Rao lower bound map",
    "ratio": "a ratio map",
    "failed": "a fit-failure map",
    "mask": "a mask",
    "brainmask": "a mask",
    "qcmask": "a mask",
}
_RATIO_TOKEN = re.compile(r"^rat(to|io)", re.IGNORECASE)


class NotAConcentration(ValueError):
    """A file name that marks a map which is not a metabolite concentration (SD, SNR, …)."""


@dataclass(frozen=True)
class NameMatch:
    """What a metabolite name means.

    Args:
        metabolite: the metabolite of the model it is read as.
        label: the name as written (e.g. ``"PCho+GPC"``).
        components: the canonical component names it is made of (``("cr",)`` for ``Cr``);
            empty for a name that is not made of components (``Gln``, ``tCho``).
    """

    metabolite: Metabolite
    label: str
    components: tuple[str, ...] = ()

    @property
    def partial(self) -> bool:
        """Only some components of a total (``Cr`` for tCr): accept it only when the total is
        absent, and say that the model was trained on the total (:attr:`note`)."""
        return bool(self.components) and set(self.components) != set(_COMPONENTS[self.metabolite])

    @property
    def priority(self) -> int:
        """0 for a whole name or a total; else 1 + the place of its first component in the
        total's components, larger concentration first (readers keep the lowest)."""
        if not self.partial:
            return 0
        return 1 + min(_COMPONENTS[self.metabolite].index(c) for c in self.components)

    @property
    def note(self) -> str:
        """A one-line note for a partial name ("" otherwise)."""
        if not self.partial:
            return ""
        return (
            f"{self.label} is only part of {_TOTAL_LABEL[self.metabolite]}, which the model "
            f"was trained on (as {self.metabolite.value}); read as {self.metabolite.value}, "
            "but a map of the total is better when there is one"
        )

    @property
    def notes(self) -> tuple[str, ...]:
        """``(note,)`` for a partial name, else ``()``: what a map read by this name notes."""
        return (self.note,) if self.partial else ()


def _components(part: str) -> list[str] | None:
    """The canonical components a ``+``-free part is made of, or None if it is not."""
    if not part or _RUN_TOGETHER.sub("", part):
        return None
    return [_SPELLINGS[t] for t in _RUN_TOGETHER.findall(part)]


def _unknown(name: str) -> ValueError:
    known = ", ".join(m.value for m in METABOLITES)
    return ValueError(
        f"unknown metabolite {name!r}; known metabolites: {known} (also as their components "
        "joined by '+' or run together, e.g. GPC+PCh, CrPCr, NAANAAG; mI for Ins)"
    )


def normalise_name(name: str | Metabolite) -> NameMatch:
    """Read a metabolite name as one of :data:`METABOLITES` (see the module docstring).

    Args:
        name: e.g. ``"tCho"``, ``"PCho+GPC"``, ``"CrPCr"``, ``"mI"``, ``"Cr"``.

    Raises:
        ValueError: naming the unknown value and listing the known metabolites (also for
            components of different totals, e.g. ``Cr+NAA``, and for ``Glu+Gln``).
    """
    if isinstance(name, Metabolite):
        return NameMatch(name, name.value)
    label = str(name).strip()
    key = label.lower()
    if key in _NAMES and key not in _SPELLINGS:
        return NameMatch(_NAMES[key], label)
    parts = [_components(part) for part in key.split("+")]
    listed = [c for part in parts for c in part or ()]
    found = set(listed)
    for met, components in _COMPONENTS.items():
        if all(parts) and len(found) == len(listed) and found <= set(components):
            return NameMatch(met, label, tuple(c for c in components if c in found))
    raise _unknown(label)


def parse_metabolite(name: str | Metabolite) -> Metabolite:
    """Return the :class:`Metabolite` for a name (:func:`normalise_name`, case-insensitive).

    Raises:
        ValueError: naming the unknown value and listing the known metabolites.
    """
    return normalise_name(name).metabolite


def index_of(name: str | Metabolite) -> int:
    """Embedding index of a metabolite (its position in :data:`METABOLITES`)."""
    return METABOLITES.index(parse_metabolite(name))


_NIFTI_SUFFIX = re.compile(r"\.nii(\.gz)?$", re.IGNORECASE)


def metabolite_from_filename(path: str | Path) -> NameMatch:
    """The metabolite named in a file name such as ``lr_Gln.nii.gz`` or ``PCho+GPC.nii.gz``.

    The name without its NIfTI suffix is split at every character other than letters,
    digits and ``+`` (BIDS ``key-value`` pairs are read by their value); exactly one
    metabolite must appear in it. A token that marks a non-concentration map (``sd``,
    ``snr``, ``fwhm``, ``crlb``, ``RatTo…``, ``ratio``, ``fit_failed``, ``mask``) is refused
    whatever else the name says.

    Raises:
        NotAConcentration: the name marks an SD, SNR, linewidth, CRLB, ratio, fit-failure or
            mask map.
        ValueError: no metabolite, or several different ones, in the name.
    """
    stem = _NIFTI_SUFFIX.sub("", Path(path).name)
    tokens = [t for t in re.split(r"[^A-Za-z0-9+]+", stem) if t]
    for token in tokens:
        reason = _NOT_CONCENTRATION.get(token.lower())
        if reason is None and _RATIO_TOKEN.match(token):
            reason = "a ratio map"
        if reason is not None:
            raise NotAConcentration(
                f"its name marks {reason} ({token!r}), not a concentration map; only "
                "concentration (amplitude) maps can be super-resolved"
            )
    found: dict[Metabolite, NameMatch] = {}
    for token in tokens:
        try:
            match = normalise_name(token)
        except ValueError:
            continue
        found.setdefault(match.metabolite, match)
    if len(found) != 1:
        names = ", ".join(m.label for m in found.values())
        what = f"several metabolites ({names})" if found else "no known metabolite"
        raise ValueError(f"{what} in the file name; give {argument('metabolite')}")
    return found.popitem()[1]


def metabolite_of_file(
    path: str | Path, given: str | None = None, force: bool = False
) -> NameMatch:
    """The metabolite of a map file: ``given`` if any, else its name.

    A ``given`` name that contradicts a file name naming another metabolite is refused
    unless ``force``: ``lr_NAA.nii.gz`` given as tCho is almost always a slip. A file name
    that marks a non-concentration map is refused whatever is given.

    Args:
        path: the map file.
        given: the metabolite named for it by the user, or None.
        force: accept ``given`` even when the file name names another metabolite.

    Raises:
        NotAConcentration: the file name marks an SD, SNR, CRLB, ratio, … map.
        ValueError: an unknown ``given`` name, a contradiction, or (without ``given``) a
            file name with no or several metabolites.
    """
    if given is None:
        return metabolite_from_filename(path)
    from_name: NameMatch | None
    try:
        from_name = metabolite_from_filename(path)
    except NotAConcentration:
        raise
    except ValueError:  # the name says nothing, or several things: the given name decides
        from_name = None
    try:
        stated = normalise_name(given)
    except ValueError as err:
        raise ValueError(f"{argument('metabolite')}: {err}") from None
    if from_name is not None and from_name.metabolite is not stated.metabolite and not force:
        raise ValueError(
            f"{argument('metabolite')} {given} contradicts the file name, which names "
            f"{from_name.label} ({from_name.metabolite.value}); pass "
            f"{argument('force_metabolite')} if the file really holds {stated.metabolite.value}"
        )
    return stated
