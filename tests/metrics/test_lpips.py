"""LPIPS: the official example distances with the real weights, and properties with fakes."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from lpips_fakes import fake_tree

from mrsisr.metrics import LPIPS, LPIPSUnavailable, lpips, lpips_available
from mrsisr.metrics import lpips_weights as lw

# The one test input read from the project's shared folder (never at run time).
REFERENCE_DIR = Path(
    os.environ.get(
        "MRSISR_LPIPS_REFERENCE",
        Path(__file__).resolve().parents[2] / ".." / "shared" / "lpips-reference",
    )
)


def _rgb(name: str) -> torch.Tensor:
    from PIL import Image

    image = np.asarray(Image.open(REFERENCE_DIR / name).convert("RGB"), dtype=np.float32)
    return torch.from_numpy(image).permute(2, 0, 1)[None]


def test_official_example_distances() -> None:
    """d(ref, p0) = 0.722 and d(ref, p1) = 0.138, as printed by the LPIPS authors' test."""
    names = ("ex_ref.png", "ex_p0.png", "ex_p1.png")
    if not all((REFERENCE_DIR / n).is_file() for n in names):
        pytest.skip(
            f"LPIPS example images not found in {REFERENCE_DIR} (set MRSISR_LPIPS_REFERENCE)"
        )
    if not lpips_available():
        pytest.skip(f"LPIPS weights not in {lw.default_weights_path()}; run `mrsisr lpips-weights`")
    ref, p0, p1 = (_rgb(n) for n in names)
    distances = lpips(torch.cat([p0, p1]), torch.cat([ref, ref]), data_range=255.0)
    np.testing.assert_allclose(distances.numpy().round(3), [0.722, 0.138])
    # Symmetric, and a one-channel map is the image replicated to RGB.
    torch.testing.assert_close(lpips(ref, p0, 255.0), distances[:1])
    grey = ref[:, :1]
    torch.testing.assert_close(
        lpips(grey, p0[:, :1], 255.0),
        lpips(grey.expand(-1, 3, -1, -1), p0[:, :1].expand(-1, 3, -1, -1), 255.0),
    )


@pytest.fixture(scope="module")
def fake_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("lpips") / lw.WEIGHTS_FILENAME
    lw.save_weights(lw.convert_checkpoint(fake_tree(7)), path)
    return path


def _maps(batch: int, size: int = 64, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return 4.0 * torch.rand(batch, 1, size, size, generator=g)


@pytest.mark.slow
def test_properties_with_fake_weights(fake_weights: Path) -> None:
    x, y = _maps(3, seed=1), _maps(3, seed=2)
    d = lpips(x, y, 4.0, weights=fake_weights)
    assert d.shape == (3,) and torch.all(d > 0)
    torch.testing.assert_close(lpips(y, x, 4.0, weights=fake_weights), d)
    assert torch.all(lpips(x, x, 4.0, weights=fake_weights) == 0)
    for i in range(3):  # a batch equals its samples run alone
        torch.testing.assert_close(
            lpips(x[i : i + 1], y[i : i + 1], 4.0, fake_weights), d[i : i + 1]
        )
    # The scaling to [-1, 1]: data_min and data_range act as an affine change of units.
    shifted = lpips(3 * x + 1, 3 * y + 1, 12.0, fake_weights, data_min=1.0)
    torch.testing.assert_close(shifted, d, rtol=1e-4, atol=1e-6)
    per_sample = lpips(x, y, torch.full((3,), 4.0), fake_weights, data_min=torch.zeros(3))
    torch.testing.assert_close(per_sample, d)
    closer = lpips(x + 0.05 * (y - x), x, 4.0, fake_weights)
    assert torch.all(closer < d)


def test_module_matches_torch_layers_by_hand(fake_weights: Path) -> None:
    """The forward pass against a hand-written AlexNet + LPIPS from the raw tensors."""
    import torch.nn.functional as F

    params = lw.load_weights(fake_weights)
    x, y = (2 * _maps(2, 48, s)[:, [0, 0, 0]] / 4 - 1 for s in (3, 4))
    shift = torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1)
    scale = torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1)

    def taps(z: torch.Tensor) -> list[torch.Tensor]:
        z = (z - shift) / scale
        out = []
        for index, (stride, pad, pool) in zip(
            (0, 3, 6, 8, 10),
            ((4, 2, True), (1, 2, True), (1, 1, False), (1, 1, False), (1, 1, False)),
        ):
            z = F.relu(
                F.conv2d(
                    z,
                    params[f"features.{index}.weight"],
                    params[f"features.{index}.bias"],
                    stride=stride,
                    padding=pad,
                )
            )
            out.append(z)
            z = F.max_pool2d(z, 3, 2) if pool else z
        return out

    expected = torch.zeros(2)
    for i, (a, b) in enumerate(zip(taps(x), taps(y))):
        a = a / (a.norm(dim=1, keepdim=True) + 1e-10)
        b = b / (b.norm(dim=1, keepdim=True) + 1e-10)
        weight = params[f"lins.{i}.weight"].view(1, -1, 1, 1)
        expected += ((a - b) ** 2 * weight).sum(dim=1).mean(dim=(1, 2))
    torch.testing.assert_close(LPIPS.from_file(fake_weights)(x, y), expected)


def test_gradients_reach_inputs_not_weights(fake_weights: Path) -> None:
    model = LPIPS.from_file(fake_weights)
    assert not any(p.requires_grad for p in model.parameters())
    x = _maps(2).requires_grad_(True)
    (grad,) = torch.autograd.grad(lpips(x, _maps(2, seed=5), 4.0, model).sum(), x)
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0


def test_unavailable_weights(tmp_path: Path) -> None:
    absent = tmp_path / "none.safetensors"
    assert not lpips_available(absent)
    with pytest.raises(LPIPSUnavailable, match="mrsisr lpips-weights"):
        lpips(_maps(1), _maps(1), 4.0, weights=absent)
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"junk")
    assert not lpips_available(broken)


def test_rejects_bad_inputs(fake_weights: Path) -> None:
    with pytest.raises(ValueError, match="1 or 3 channels"):
        lpips(torch.rand(1, 2, 64, 64), torch.rand(1, 2, 64, 64), 1.0, fake_weights)
    with pytest.raises(ValueError, match="at least 31x31"):
        lpips(torch.rand(1, 1, 30, 64), torch.rand(1, 1, 30, 64), 1.0, fake_weights)
    with pytest.raises(ValueError, match="data_range"):
        lpips(_maps(1), _maps(1), None, fake_weights)  # type: ignore[arg-type]
