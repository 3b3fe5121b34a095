"""The metabolites the networks know, in a fixed order (their embedding index)."""

from __future__ import annotations

import enum

__all__ = ["METABOLITES", "Metabolite", "index_of", "parse_metabolite"]


class Metabolite(str, enum.Enum):
    """Metabolite names as written in files and on the command line."""

    tCho = "tCho"  # total choline (GPC + PCh)
    tCr = "tCr"  # total creatine (Cr + PCr)
    NAA = "NAA"  # N-acetylaspartate (+ NAAG where not separated)
    Gly = "Gly"  # glycine
    Gln = "Gln"  # glutamine
    Glu = "Glu"  # glutamate
    Ins = "Ins"  # myo-inositol

    def __str__(self) -> str:
        return self.value


METABOLITES: tuple[Metabolite, ...] = tuple(Metabolite)

# Names used by common quantification tools, mapped to ours (case-insensitive lookup).
_ALIASES = {
    "cho": Metabolite.tCho,
    "tch": Metabolite.tCho,
    "gpc+pch": Metabolite.tCho,
    "cr": Metabolite.tCr,
    "cr+pcr": Metabolite.tCr,
    "naa+naag": Metabolite.NAA,
    "tnaa": Metabolite.NAA,
    "mi": Metabolite.Ins,
    "myo": Metabolite.Ins,
    "mins": Metabolite.Ins,
}


def parse_metabolite(name: str | Metabolite) -> Metabolite:
    """Return the :class:`Metabolite` for a name (case-insensitive, common aliases accepted).

    Raises:
        ValueError: naming the unknown value and listing the known metabolites.
    """
    if isinstance(name, Metabolite):
        return name
    key = str(name).strip()
    for met in METABOLITES:
        if met.value.lower() == key.lower():
            return met
    if key.lower() in _ALIASES:
        return _ALIASES[key.lower()]
    known = ", ".join(m.value for m in METABOLITES)
    raise ValueError(f"unknown metabolite {name!r}; known metabolites: {known}")


def index_of(name: str | Metabolite) -> int:
    """Embedding index of a metabolite (its position in :data:`METABOLITES`)."""
    return METABOLITES.index(parse_metabolite(name))
