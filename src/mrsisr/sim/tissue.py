"""Tissue properties of the in-silico cohort: metabolite concentrations, MRI contrasts, noise.

Every number says where it comes from. *Literature* values are healthy grey- and
white-matter concentrations (mM); everything about the tumour, the image contrasts and the
noise is an *assumption* chosen to give the qualitative pattern of high-grade glioma
(Cho, Gly, Ins up; NAA and tCr down) and plausible 7 T images, not measured values.
"""

from __future__ import annotations

from types import MappingProxyType

from mrsisr.metabolites import Metabolite
from mrsisr.options import StrEnum

__all__ = [
    "FLAIR_INTENSITY",
    "HEALTHY_MM",
    "LESION_FACTOR",
    "NOISE_SD_MM",
    "T1_INTENSITY",
    "Compartment",
]

M = Metabolite


class Compartment(StrEnum):
    """Tissue compartments a voxel is a mixture of."""

    csf = "csf"
    gm = "gm"
    wm = "wm"
    oedema = "oedema"  # peritumoral oedema (infiltrated white matter)
    enhancing = "enhancing"  # solid, contrast-enhancing tumour
    necrosis = "necrosis"  # necrotic core


# Healthy (grey matter, white matter) concentrations in mM. CSF holds ~0 of every metabolite.
HEALTHY_MM: MappingProxyType[Metabolite, tuple[float, float]] = MappingProxyType(
    {
        # Literature: meta-analysis of healthy controls as tabulated by the MRS-Digital-Phantom
        # project (MIT licence). Totals: tCho = GPC + PCh, tCr = Cr + PCr, NAA = NAA + NAAG.
        M.tCho: (1.30, 1.65),
        M.tCr: (7.76, 7.10),
        M.NAA: (9.21, 11.12),
        M.Ins: (4.86, 5.42),
        # Literature: Pouwels & Frahm, MRM 39:53 (1998). Chosen over the meta-analysis (which
        # has GM ~ WM) for the clear grey > white contrast of Glu and Gln seen at 7 T.
        M.Glu: (8.52, 6.57),
        M.Gln: (4.25, 1.83),
        # Literature: Ganji et al., MRM 2016 (3 T).
        M.Gly: (1.10, 0.30),
    }
)

# Lesion concentrations as multiples of the white-matter value: (oedema, enhancing, necrosis).
LESION_FACTOR: MappingProxyType[Metabolite, tuple[float, float, float]] = MappingProxyType(
    {
        # Assumption: choline rises with membrane turnover in solid tumour.
        M.tCho: (1.2, 2.6, 0.4),
        # Assumption: creatine falls in tumour.
        M.tCr: (0.9, 0.65, 0.2),
        # Assumption: NAA (neuronal marker) falls sharply in tumour, mildly in oedema.
        M.NAA: (0.75, 0.25, 0.1),
        # Literature-guided: Gly ~10x higher in glioblastoma (Tiwari et al., Neuro-Oncology
        # 2020) -> 3.0 mM, above the 2.5 mM they associate with aggressive glioma. Oedema and
        # necrosis factors are assumptions.
        M.Gly: (1.5, 10.0, 2.0),
        # Assumption: glutamine up in glioma, glutamate roughly kept.
        M.Gln: (1.3, 2.2, 0.3),
        M.Glu: (0.9, 0.9, 0.2),
        # Assumption: myo-inositol up (glial marker; an Ins hotspot at the tumour, paper Fig. 3).
        M.Ins: (1.2, 1.7, 0.3),
    }
)

# Assumption: standard deviation (mM) of the quantification noise of one high-resolution
# voxel; glycine and glutamine, small overlapped peaks at 7 T, are the noisiest relative to
# their concentration.
NOISE_SD_MM: MappingProxyType[Metabolite, float] = MappingProxyType(
    {
        M.tCho: 0.08,
        M.tCr: 0.25,
        M.NAA: 0.30,
        M.Gly: 0.22,
        M.Gln: 0.40,
        M.Glu: 0.45,
        M.Ins: 0.30,
    }
)

# Assumption: T1-weighted intensities of the lesion compartments on the scale of the MNI
# template (WM ~ 0.85, GM ~ 0.6, CSF ~ 0.25 there): oedema and tumour are T1-hypointense
# (no contrast agent), the necrotic core more so.
T1_INTENSITY: MappingProxyType[Compartment, float] = MappingProxyType(
    {Compartment.oedema: 0.55, Compartment.enhancing: 0.5, Compartment.necrosis: 0.3}
)

# Assumption: FLAIR intensities: CSF suppressed, GM slightly above WM, oedema brightest.
FLAIR_INTENSITY: MappingProxyType[Compartment, float] = MappingProxyType(
    {
        Compartment.csf: 0.08,
        Compartment.gm: 0.5,
        Compartment.wm: 0.4,
        Compartment.oedema: 1.0,
        Compartment.enhancing: 0.75,
        Compartment.necrosis: 0.4,
    }
)
