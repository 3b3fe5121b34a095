"""What the inference and predict tests share: a tiny model of the full variant (fast on a
CPU), its file as a fixture, and writing NIfTI inputs."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch
from torch import nn

from mrsisr import kspace
from mrsisr.checkpoint import save_model
from mrsisr.nn.variants import build_generator

GRID = (32, 32)
TINY = dict(grid=list(GRID), channels=[4, 8], mlp_depth=1, filter_latent=4, norm_latent=4)


def perturbed_generator(grid: tuple[int, int] = GRID, **options) -> nn.Module:
    """The tiny full generator (in eval mode) with every parameter perturbed from seed 0, so
    that every condition acts (at initialisation the λ branch is an identity)."""
    torch.manual_seed(0)
    model = build_generator("full", **{**TINY, "grid": list(grid), **options}).eval()
    with torch.no_grad():
        for param in model.parameters():
            param.add_(0.2 * torch.randn_like(param))
    return model


def save_tiny_model(path: Path) -> Path:
    """Write the tiny model, its weights perturbed so that every condition (λ too) acts."""
    save_model(path, perturbed_generator(), "full", TINY, {"purpose": "tests"})
    return path


@pytest.fixture(scope="module")
def model_file(tmp_path_factory) -> Path:
    """The tiny model's file (import this fixture into a test module to use it)."""
    return save_tiny_model(tmp_path_factory.mktemp("model") / "tiny.safetensors")


def save(path: Path, data, affine: np.ndarray) -> Path:
    """Write ``data`` as a float32 NIfTI file with ``affine`` (folders created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(np.asarray(data, dtype=np.float32), affine), str(path))
    return path


class TissuePrior(nn.Module):
    """A 'network' sure that the map is ``c · T1``: ``c`` by least squares on the acquired
    k-space, then exact data consistency. Its detail is right for a map that follows T1."""

    def forward(self, lr, t1, flair, mask, n, met, lam, present=None):
        out = torch.empty_like(lr)
        for b in range(lr.shape[0]):
            size = (int(n[b, 0]), int(n[b, 1]))
            image = t1[b, 0].double()
            low = kspace.zero_fill(kspace.degrade(image, size), image.shape)
            c = (low * lr[b, 0]).sum() / (low * low).sum()
            guess = c * image
            fix = kspace.zero_fill(kspace.degrade(lr[b, 0].double() - guess, size), image.shape)
            out[b, 0] = (guess + fix).float()
        return out


def naa_job(folder: Path, lr: np.ndarray, image: np.ndarray, mask: np.ndarray):
    """Write one NAA map at n = lr's size (7 mm voxels), a T1/FLAIR and a mask on the tiny
    model's grid, and return the predict Job that reads them (output in ``folder/out``)."""
    from mrsisr.metabolites import Metabolite
    from mrsisr.predict import Job

    affine = np.diag([7.0, 7.0, 5.0, 1.0])
    hr_affine = kspace.lowres_affine(affine, lr.shape[:2], GRID)
    met = save(folder / "lr_NAA.nii.gz", lr, affine)
    anatomy = save(folder / "t1.nii.gz", image, hr_affine)
    out = folder / "out" / "sr_NAA.nii.gz"
    return Job(
        patient="",
        metabolite=Metabolite.NAA,
        met=met,
        t1=anatomy,
        flair=anatomy,
        mask=save(folder / "mask.nii.gz", mask, hr_affine),
        out=out,
        mask_out=out.parent / "mask.nii.gz",
        sharpness=(0.0,),
    )
