"""``mrsisr blend``: the interpolated weights, the header, and the pairs it refuses."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import torch

from mrsisr.checkpoint import TrainedRange, load_model, read_info, save_model
from mrsisr.cli import main
from mrsisr.errors import UserError
from mrsisr.nn.variants import build_generator
from mrsisr.train.blend import blend_files, blend_states, blended_range

CONFIG = {"grid": [32, 32], "channels": [4, 8, 8, 8, 8]}


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return load_model(path)[0].state_dict()


def _model(seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    model = build_generator("full", **CONFIG)
    with torch.no_grad():  # every weight away from its initial value
        for p in model.parameters():
            p.add_(torch.randn_like(p))
    return model.eval()


@pytest.fixture
def pair(tmp_path: Path) -> tuple[Path, Path]:
    """A base model file and a fine-tuning of it (its header names the base's SHA-256)."""
    base, tuned = tmp_path / "base.safetensors", tmp_path / "tuned.safetensors"
    save_model(base, _model(0), "full", CONFIG, trained=TrainedRange((16, 16), (32, 32), (32, 32)))
    save_model(
        tuned,
        _model(1),
        "full",
        CONFIG,
        {"init_model_sha256": _sha(base), "epoch": 7},
        trained=TrainedRange((8, 8), (24, 24), (32, 32)),
    )
    return base, tuned


def test_blend_states_is_the_weighted_mean_of_every_weight() -> None:
    base = {"w": torch.tensor([0.0, 2.0, -4.0]), "count": torch.tensor(3)}
    tuned = {"w": torch.tensor([1.0, 0.0, 4.0]), "count": torch.tensor(3)}
    blended = blend_states(base, tuned, 0.25)
    torch.testing.assert_close(blended["w"], torch.tensor([0.25, 1.5, -2.0]), rtol=0, atol=0)
    assert blended["count"] == 3
    assert torch.equal(blend_states(base, tuned, 0.0)["w"], base["w"])
    assert torch.equal(blend_states(base, tuned, 1.0)["w"], tuned["w"])


@pytest.mark.parametrize(
    ("tuned", "message"),
    [
        ({"w": torch.zeros(3), "count": torch.tensor(4)}, "not floating point and differs"),
        ({"w": torch.zeros(2), "count": torch.tensor(3)}, "tensor 'w' is (3,)"),
        ({"w": torch.zeros(3)}, "different tensors: count"),
    ],
)
def test_blend_states_refuses_states_that_do_not_match(
    tuned: dict[str, torch.Tensor], message: str
) -> None:
    base = {"w": torch.ones(3), "count": torch.tensor(3)}
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        blend_states(base, tuned, 0.5)


@pytest.mark.parametrize("alpha", [-0.1, 1.5, float("nan")])
def test_blend_states_refuses_alpha_outside_zero_one(alpha: float) -> None:
    with pytest.raises(ValueError, match="alpha must be in"):
        blend_states({"w": torch.ones(1)}, {"w": torch.ones(1)}, alpha)


def test_blended_range_is_the_union_on_one_grid() -> None:
    a = TrainedRange((16, 16), (32, 32), (64, 64))
    b = TrainedRange((8, 12), (24, 40), (64, 64))
    assert blended_range(a, b) == TrainedRange((8, 12), (32, 40), (64, 64))
    assert blended_range(a, None) is None
    assert blended_range(a, TrainedRange((8, 8), (32, 32), (64, 84))) is None


def test_blended_range_is_the_union_of_the_trained_grids() -> None:
    a = TrainedRange((16, 16), (32, 32), (64, 64))
    b = TrainedRange((8, 12), (24, 40), (64, 64), (48, 64), (64, 84))
    union = TrainedRange((8, 12), (32, 40), (64, 64), (48, 64), (64, 84))
    assert blended_range(a, b) == union and blended_range(b, a) == union
    assert blended_range(a, TrainedRange((8, 8), (24, 24), (64, 64), (64, 64), (64, 64))) == (
        TrainedRange((8, 8), (32, 32), (64, 64))
    )


def test_the_blend_file_holds_the_mean_weights_and_says_where_they_came_from(
    pair: tuple[Path, Path], tmp_path: Path
) -> None:
    base, tuned = pair
    a, b = _weights(base), _weights(tuned)
    blend_files(base, tuned, 0.5, tmp_path / "mean.safetensors", half=False)
    blend_files(base, tuned, 1.0, tmp_path / "one.safetensors", half=False)
    for name, value in _weights(tmp_path / "mean.safetensors").items():
        torch.testing.assert_close(value, (a[name] + b[name]) / 2, rtol=1e-6, atol=1e-6)
    for name, value in _weights(tmp_path / "one.safetensors").items():
        assert torch.equal(value, b[name])  # alpha 1 in float32: the tuned model, bit for bit
    info = read_info(tmp_path / "mean.safetensors")
    assert info.metadata["blend"] == {
        "base_sha256": _sha(base),
        "tuned_sha256": _sha(tuned),
        "alpha": 0.5,
    }
    assert info.metadata["epoch"] == 7  # the tuned model's own metadata is kept
    assert info.trained == TrainedRange((8, 8), (32, 32), (32, 32))


def test_float16_is_the_default_form(pair: tuple[Path, Path], tmp_path: Path) -> None:
    from safetensors import safe_open

    out = tmp_path / "half.safetensors"
    blend_files(*pair, 0.3, out)
    with safe_open(str(out), "pt") as f:
        dtypes = {f.get_slice(k).get_dtype() for k in f.keys()}
    assert "F16" in dtypes
    assert "F32" not in dtypes


def test_a_model_not_fine_tuned_from_the_base_is_refused(
    pair: tuple[Path, Path], tmp_path: Path
) -> None:
    base, tuned = pair
    stranger = tmp_path / "stranger.safetensors"
    save_model(stranger, _model(2), "full", CONFIG, {"init_model_sha256": "0" * 64})
    scratch = tmp_path / "trained_apart.safetensors"
    save_model(scratch, _model(3), "full", CONFIG)
    for other, message in (
        (stranger, "fine-tuned from a model of SHA-256 000000000000"),
        (scratch, "records no init_model_sha256"),
    ):
        out = tmp_path / "never.safetensors"
        with pytest.raises(UserError, match=message):
            blend_files(base, other, 0.5, out)
        assert not out.exists()
    with pytest.raises(UserError, match=r"alpha 2\.0: must be in"):
        blend_files(base, tuned, 2.0, tmp_path / "never.safetensors")


def test_another_architecture_is_refused(pair: tuple[Path, Path], tmp_path: Path) -> None:
    base, _ = pair
    config = {"grid": [32, 32], "channels": [4, 8, 8, 8, 16]}
    other = tmp_path / "wider.safetensors"
    save_model(
        other,
        build_generator("full", **config),
        "full",
        config,
        {"init_model_sha256": _sha(base)},
    )
    with pytest.raises(UserError, match="another architecture"):
        blend_files(base, other, 0.5, tmp_path / "never.safetensors")


def test_the_command_writes_the_blend_and_refuses_in_one_line(
    pair: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base, tuned = pair
    out = tmp_path / "cli.safetensors"
    assert main(["blend", str(base), str(tuned), "--alpha", "0.25", "--out", str(out)]) == 0
    assert read_info(out).metadata["blend"]["alpha"] == 0.25
    before = out.read_bytes()
    cases = [
        (["--alpha", "0.5", "--out", str(out)], f"--out {out}: exists"),
        (["--alpha", "0.5", "--out", str(tuned), "--overwrite"], "is an input"),
        (["--alpha", "-1", "--out", str(tmp_path / "x.safetensors")], "--alpha -1.0: must be"),
        (["--alpha", "0.5", "--out", str(tmp_path / "x.pt")], "must end in .safetensors"),
    ]
    for extra, message in cases:
        capsys.readouterr()
        assert main(["blend", str(base), str(tuned), *extra]) != 0
        err = capsys.readouterr().err.strip()
        assert message in err
        assert len(err.splitlines()) == 1
    assert out.read_bytes() == before
    assert not (tmp_path / "x.safetensors").exists()
