"""The numbers reported by the paper, for side-by-side comparison with ours.

Source: S. Dong, G. Hangel, W. Bogner, G. Widhalm, K. Rössler, S. Trattnig, C. You,
R. de Graaf, J. Onofrey, J. Duncan, "Multi-scale Super-resolution Magnetic Resonance
Spectroscopic Imaging with Adjustable Sharpness", MICCAI 2022, Table 1 and Sect. 3.3.
5-fold patient-wise cross-validation on 15 high-grade glioma patients (7 T), n in
{16, 18, ..., 32}, N = 64, trained without the adversarial loss (λ = 0); PSNR / SSIM mean ±
std over the 5 folds and the 9 values of n; training time in GPU hours (GTX 1080 / V100);
parameters in millions. The paper computes its metrics over the whole field of view (the
authors' code: scikit-image, data range = ground-truth max − min), while we compute them
inside the quality mask, so absolute values are not comparable; orderings are.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["PAPER_CITATION", "PAPER_FIG4", "PAPER_TABLE1", "PaperRow"]

PAPER_CITATION = "Dong et al., MICCAI 2022, Table 1"


class PaperRow(NamedTuple):
    """One row of the paper's Table 1."""

    label: str
    psnr: float
    psnr_std: float
    ssim: float
    ssim_std: float
    train_hours: float
    params_millions: float


PAPER_TABLE1: dict[str, PaperRow] = {
    "single_scale": PaperRow("Single-scale", 30.81, 2.90, 0.9473, 0.0237, 14.4, 8.7),
    "unconditioned": PaperRow("Unconditioned", 30.65, 2.82, 0.9458, 0.0244, 1.6, 1.0),
    "amlayer": PaperRow("AMLayer", 30.70, 2.86, 0.9462, 0.0242, 1.9, 1.5),
    "hypernetwork": PaperRow("Hypernetworks", 30.78, 2.88, 0.9471, 0.0240, 1.7, 26.0),
    "filter_scaling": PaperRow("Filter Scaling", 30.81, 2.91, 0.9474, 0.0238, 1.7, 3.9),
    "filter_scaling_met": PaperRow(
        "Filter Scaling with Met", 30.86, 2.92, 0.9477, 0.0240, 1.8, 6.9
    ),
}
"""Table 1 of the paper, keyed by our variant names, in the paper's row order."""

PAPER_FIG4 = (
    "best LPIPS near λ = 0.03; PSNR and SSIM fall as λ grows (Dong et al., MICCAI 2022, Fig. 4)"
)
"""What the paper's Fig. 4 shows (the figure has no table of values)."""
