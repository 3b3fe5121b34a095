"""Model files: safetensors round trip, refusal of foreign or corrupted files, atomic writes."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from mrsisr.checkpoint import (
    METABOLITES_0_1_0,
    TrainedRange,
    load_model,
    read_info,
    save_model,
)
from mrsisr.errors import UserError
from mrsisr.metabolites import METABOLITES
from mrsisr.nn.variants import Variant, build_generator

CONFIG = {"grid": [32, 32], "channels": [4, 8, 8, 8, 8]}
NAMES = [m.value for m in METABOLITES]
TRAINED = {"n_min": [8, 8], "n_max": [16, 16], "N": [32, 32]}


def inputs(batch: int = 2, size: int = 32) -> tuple[torch.Tensor, ...]:
    gen = torch.Generator().manual_seed(0)
    images = [torch.rand(batch, 1, size, size, generator=gen) for _ in range(3)]
    mask = torch.ones(batch, 1, size, size)
    n = torch.tensor([[16, 16], [9, 12]])[:batch]
    return (*images, mask, n, torch.tensor([0, 5])[:batch], torch.tensor([0.0, 0.05])[:batch])


def test_round_trip_gives_identical_outputs(tmp_path: Path) -> None:
    model = build_generator("full", **CONFIG).eval()
    with torch.no_grad():  # move away from the identity initialisation of the conditioning
        for p in model.parameters():
            p.add_(0.01 * torch.randn_like(p))
    path = tmp_path / "m.safetensors"
    save_model(path, model, "full", CONFIG, {"trained_on": "nothing"})
    loaded, info = load_model(path)
    assert info.variant == "full"
    assert info.metadata == {"trained_on": "nothing"}
    with torch.no_grad():
        torch.testing.assert_close(loaded(*inputs()), model(*inputs()), rtol=0, atol=0)


@pytest.mark.parametrize("variant", [v.value for v in Variant])
def test_every_variant_loads_bit_identically_from_the_meta_device(
    tmp_path: Path, variant: str
) -> None:
    """``load_model`` fills the meta-device generator: buffers outside the state dict
    (the data-consistency projections) must be recomputed, and must be the only ones."""
    model = build_generator(variant, **CONFIG).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.01 * torch.randn_like(p))
    outside = set(dict(model.named_buffers())) - set(model.state_dict())
    assert outside == {"dc.proj_y", "dc.proj_x"}, "load_model must also reset these buffers"
    path = tmp_path / "m.safetensors"
    save_model(path, model, variant, CONFIG)
    loaded, _ = load_model(path)
    for name, buffer in model.named_buffers():
        assert torch.equal(dict(loaded.named_buffers())[name], buffer), name
    with torch.no_grad():
        torch.testing.assert_close(loaded(*inputs()), model(*inputs()), rtol=0, atol=0)


def test_foreign_safetensors_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "foreign.safetensors"
    save_file({"w": torch.zeros(2)}, str(path))
    with pytest.raises(UserError, match="not an mrsisr model file"):
        read_info(path)


def test_corrupted_and_missing_files_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "m.safetensors"
    save_model(path, build_generator("full", **CONFIG), "full", CONFIG)
    data = path.read_bytes()
    (tmp_path / "truncated.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(UserError, match=r"truncated\.safetensors"):
        load_model(tmp_path / "truncated.safetensors")
    (tmp_path / "pickle.pt").write_bytes(b"\x80\x04K\x01.")
    with pytest.raises(UserError, match=r"pickle\.pt: not a readable safetensors"):
        load_model(tmp_path / "pickle.pt")
    with pytest.raises(UserError, match="not found"):
        load_model(tmp_path / "absent.safetensors")


def test_mismatched_architecture_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "m.safetensors"
    save_model(path, build_generator("unconditioned", **CONFIG), "full", CONFIG)
    with pytest.raises(UserError, match="do not match the 'full' model"):
        load_model(path)


def header_file(path: Path, tensors: dict[str, torch.Tensor], **header) -> Path:
    """A safetensors file holding ``tensors`` and an mrsisr header made of ``header``."""
    doc = {"format": "mrsisr-model", "format_version": 1, "variant": "full", **header}
    save_file(tensors, str(path), metadata={"mrsisr": json.dumps(doc)})
    return path


def test_the_issue_attack_is_refused_before_any_allocation(tmp_path: Path) -> None:
    """Regression (issue 17): a 300-byte file asking for 65536 channels allocated 24 GB."""
    huge = {"grid": [64, 64], "channels": [4096, 8192, 16384, 32768, 65536]}
    path = header_file(tmp_path / "evil.safetensors", {"x": torch.zeros(1)}, config=huge)
    assert path.stat().st_size < 400
    with pytest.raises(UserError, match=r"evil\.safetensors: header field 'config': channels"):
        load_model(path)


def test_a_model_too_large_within_the_per_field_bounds_is_refused(tmp_path: Path) -> None:
    wide = {"grid": [64, 64], "channels": [256, 512, 1024, 1024, 1024]}
    path = header_file(
        tmp_path / "wide.safetensors", {"x": torch.zeros(1)}, variant="hypernetwork", config=wide
    )
    with pytest.raises(UserError, match=r"has 6,613,526,273 values; at most 100,000,000"):
        read_info(path)


def test_tensors_are_compared_with_the_described_model_by_name_shape_and_dtype(
    tmp_path: Path,
) -> None:
    state = build_generator("full", **CONFIG).state_dict()
    name = next(k for k, v in state.items() if v.ndim == 4)
    cases = {
        "missing": ({k: v for k, v in state.items() if k != name}, f"missing tensor '{name}'"),
        "unknown": ({**state, "extra": torch.zeros(1)}, "unknown tensor 'extra'"),
        "shape": ({**state, name: torch.zeros(1, 1, 1, 1)}, rf"{name} is F32 \[1, 1, 1, 1\]"),
        "dtype": ({**state, name: state[name].double()}, f"{name} is F64"),
    }
    for case, (tensors, message) in cases.items():
        path = header_file(tmp_path / f"{case}.safetensors", tensors, config=CONFIG)
        with pytest.raises(UserError, match=message):
            read_info(path)


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ({"config": CONFIG, "extra": 1}, "unknown header key 'extra'"),
        ({"config": {**CONFIG, "chanels": [4, 8]}}, "unknown config key 'chanels'"),
        ({"config": [1, 2]}, "'config' must be a JSON object"),
        ({"config": CONFIG, "variant": "huge"}, "header field 'variant': unknown variant"),
        ({"config": CONFIG, "variant": 3}, "header field 'variant'"),
        ({"config": CONFIG, "metadata": {"n_choices": [16, 64]}}, "'n_choices'.*1..32"),
        ({"config": CONFIG, "metadata": {"split": {"test": [1]}}}, "'split'"),
        ({"config": CONFIG, "metadata": {"fold": -1}}, "'fold'"),
        ({"config": CONFIG, "metadata": {"lam_range": [0, float("nan")]}}, "'lam_range'"),
        ({"config": CONFIG, "format_version": True}, "version True is not supported"),
        ({"config": CONFIG, "metabolites": "tCho"}, "'metabolites' must be a list of names"),
        ({"config": CONFIG, "metabolites": [*NAMES, "Lac"]}, "knows metabolite 'Lac'"),
        ({"config": CONFIG, "metabolites": NAMES[:-1]}, "not trained for Ins"),
        ({"config": CONFIG, "metabolites": [*NAMES, "NAA"]}, "lists NAA twice"),
        ({"config": CONFIG, "trained": {"n_min": [8, 8]}}, "'trained' must hold exactly"),
        ({"config": CONFIG, "trained": TRAINED | {"N": [64, 64]}}, r"N = \[64, 64\] is not"),
        ({"config": CONFIG, "trained": TRAINED | {"n_max": [4, 4]}}, "n_min <= n_max <= N"),
        ({"config": CONFIG, "trained": TRAINED | {"N_min": [24, 32]}}, "both N_min and N_max"),
        (
            {"config": CONFIG, "trained": TRAINED | {"N_min": [24, 48], "N_max": [32, 40]}},
            "1 <= N_min <= N_max",
        ),
        (
            {"config": CONFIG, "trained": TRAINED | {"N_min": [8, 8], "N_max": [12, 12]}},
            "n_min <= n_max <= N_max",
        ),
    ],
)
def test_header_fields_are_checked(tmp_path: Path, header: dict, message: str) -> None:
    state = build_generator("full", **CONFIG).state_dict()
    path = header_file(tmp_path / "m.safetensors", state, **header)
    with pytest.raises(UserError, match=message):
        read_info(path)


def test_a_huge_or_deeply_nested_header_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "big.safetensors"
    path.write_bytes(struct.pack("<Q", 2**40) + b"{}")
    with pytest.raises(UserError, match="header over"):
        read_info(path)
    deep = "[" * 100_000 + "]" * 100_000
    path = tmp_path / "deep.safetensors"
    save_file({"x": torch.zeros(1)}, str(path), metadata={"mrsisr": deep})
    with pytest.raises(UserError, match="too deeply nested"):
        read_info(path)


def test_half_storage_halves_the_file_and_loads_into_float32(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = build_generator("full", **CONFIG).eval()
    full, half = tmp_path / "full.safetensors", tmp_path / "half.safetensors"
    save_model(full, model, "full", CONFIG)
    save_model(half, model, "full", CONFIG, half=True)
    assert half.stat().st_size < 0.55 * full.stat().st_size
    loaded, _ = load_model(half)
    for name, value in loaded.state_dict().items():
        original = model.state_dict()[name]
        assert value.dtype == original.dtype
        if value.dtype == torch.float32:  # each weight is its nearest float16
            torch.testing.assert_close(value, original.half().float(), rtol=0, atol=0)
    with torch.no_grad():
        a, b = model(*inputs()), loaded(*inputs())
    assert 0 < (a - b).abs().max() < 1e-2 * a.abs().max()


def test_half_storage_refuses_weights_beyond_float16(tmp_path: Path) -> None:
    model = build_generator("full", **CONFIG)
    with torch.no_grad():
        next(p for p in model.parameters() if p.ndim == 4).fill_(1e6)
    with pytest.raises(ValueError, match="beyond float16's range"):
        save_model(tmp_path / "m.safetensors", model, "full", CONFIG, half=True)
    assert not (tmp_path / "m.safetensors").exists()


def test_the_header_records_the_metabolite_order_and_the_trained_grids(tmp_path: Path) -> None:
    path = tmp_path / "m.safetensors"
    trained = TrainedRange.from_n_choices([16, 8, 12], CONFIG["grid"])
    save_model(path, build_generator("full", **CONFIG), "full", CONFIG, trained=trained)
    info = read_info(path)
    assert info.metabolites == tuple(NAMES)
    assert info.trained == TrainedRange((8, 8), (16, 16), (32, 32))
    header = json.loads(read_safetensors_metadata(path)["mrsisr"])
    assert header["metabolites"] == NAMES and header["trained"] == TRAINED


def test_a_file_without_the_metabolite_list_is_read_with_the_list_of_0_1_0(
    tmp_path: Path,
) -> None:
    """Files written before the field existed (the 0.1.0 shipped model) keep loading, read
    with the frozen list of 0.1.0, which is today's."""
    assert METABOLITES_0_1_0 == tuple(NAMES)
    state = build_generator("full", **CONFIG).state_dict()
    info = read_info(header_file(tmp_path / "old.safetensors", state, config=CONFIG))
    assert info.metabolites == METABOLITES_0_1_0 and info.trained is None


def test_a_model_with_the_metabolites_in_another_order_is_mapped_by_name(tmp_path: Path) -> None:
    """The embedding row of each metabolite is found by its name, not by its index."""
    model = build_generator("full", **CONFIG).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.01 * torch.randn_like(p))
    order = [6, 2, 0, 5, 1, 4, 3]  # the file's row r holds metabolite order[r]
    state = {k: v.clone() for k, v in model.state_dict().items()}
    state["conv_trunk.embedding"] = state["conv_trunk.embedding"][:, order].contiguous()
    names = [NAMES[i] for i in order]
    path = header_file(tmp_path / "shuffled.safetensors", state, config=CONFIG, metabolites=names)
    loaded, info = load_model(path)
    assert info.metabolites == tuple(names)
    lr, t1, flair, mask, n, _, lam = inputs(1)
    with torch.no_grad():
        for index in range(len(NAMES)):
            met = torch.tensor([index])
            expected = model(lr, t1, flair, mask, n, met, lam)
            torch.testing.assert_close(loaded(lr, t1, flair, mask, n, met, lam), expected)


def read_safetensors_metadata(path: Path) -> dict[str, str]:
    (length,) = struct.unpack("<Q", path.read_bytes()[:8])
    return json.loads(path.read_bytes()[8 : 8 + length])["__metadata__"]


def test_a_wrapped_model_is_saved_as_the_model_it_wraps(tmp_path: Path) -> None:
    """DistributedDataParallel keeps the network in ``.module``: the file holds the network
    (its tensor names without a ``module.`` prefix), read back as the same model."""
    model = build_generator("full", **CONFIG).eval()

    class Wrapper(torch.nn.Module):
        def __init__(self, module: torch.nn.Module) -> None:
            super().__init__()
            self.module = module

    path = tmp_path / "m.safetensors"
    save_model(path, Wrapper(model), "full", CONFIG, {"n_choices": [8, 16]})
    info = read_info(path)
    assert info.variant == "full" and info.metadata["n_choices"] == [8, 16]
    assert info.path == path and info.config["grid"] == [32, 32]
    loaded, _ = load_model(path)
    with torch.no_grad():
        torch.testing.assert_close(loaded(*inputs()), model(*inputs()), rtol=0, atol=0)


def test_the_header_records_the_range_of_the_trained_grids(tmp_path: Path) -> None:
    """n is clipped to each grid per axis; ``N`` stays the model's grid."""
    path = tmp_path / "m.safetensors"
    trained = TrainedRange.from_n_choices([8, 28], CONFIG["grid"], [[32, 32], [24, 40]])
    assert trained == TrainedRange((8, 8), (28, 28), (32, 32), (24, 32), (32, 40))
    clipped = TrainedRange.from_n_choices([8, 28], CONFIG["grid"], [[20, 40], [24, 24]])
    assert clipped == TrainedRange((8, 8), (24, 28), (32, 32), (20, 24), (24, 40))
    save_model(path, build_generator("full", **CONFIG), "full", CONFIG, trained=trained)
    header = json.loads(read_safetensors_metadata(path)["mrsisr"])
    assert header["trained"] == {
        "n_min": [8, 8],
        "n_max": [28, 28],
        "N": [32, 32],
        "N_min": [24, 32],
        "N_max": [32, 40],
    }
    assert read_info(path).trained == trained
    assert trained.grid_label() == "24x32 to 32x40"


def test_a_header_of_the_model_grid_only_is_the_header_before_grid_ranges(tmp_path: Path) -> None:
    """Training on the model grid (named or not) writes the three keys of older files, and
    an older file's ``trained`` loads with no grid range."""
    for grids in ([], [CONFIG["grid"]]):
        trained = TrainedRange.from_n_choices([16, 8, 12], CONFIG["grid"], grids)
        assert trained.to_dict() == TRAINED and trained.grid_min is None
    state = build_generator("full", **CONFIG).state_dict()
    info = read_info(
        header_file(tmp_path / "old.safetensors", state, config=CONFIG, trained=TRAINED)
    )
    assert info.trained == TrainedRange((8, 8), (16, 16), (32, 32))
    assert info.trained.grid_range == ((32, 32), (32, 32)) and info.trained.grid_label() == "32x32"
