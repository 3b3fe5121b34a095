"""Adapt a model to the user's own maps: self-supervised fine-tuning, no ground truth needed.

A map measured at ``n`` is the exact truth for its own degradation to ``n' < n`` (the operator
the network was trained to invert). Adaptation fine-tunes the network on that task: each step
cuts a batch of the user's slices to ``n'`` (drawn per step), super-resolves them, cuts the
output back to ``n`` and compares it with the measured slices inside the mask (L1, the
training loss's fidelity term). No weight ever sees a high-resolution map, so nothing but the
user's data is needed; the network learns how *their* maps behave beyond the acquisition
window (how much of it is tissue, how much is rim or noise) one scale down, and carries it to
the real scale, as the self-check does for its weights (:mod:`mrsisr.selfcheck`).

The data are split by slice: every fourth slice of each map is held out, and the self-check
on the held-out slices before and after (:func:`held_out_gain`) says whether the adaptation
helped; a prediction that adapts (``adapt`` of :func:`mrsisr.predict.run_jobs`) uses the
adapted network only when it did. Data consistency is applied at inference as always, so the
acquired k-space of every output is the measured one whatever the weights are. What adapts,
how many steps and at which rate was settled by measurement (docs/adapt.md).
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import nn

from mrsisr import kspace
from mrsisr.inference import Anatomy, Predictor, presence_flags
from mrsisr.metabolites import Metabolite, index_of
from mrsisr.options import StrEnum, parse_enum
from mrsisr.provenance import FileHashes
from mrsisr.selfcheck import self_check
from mrsisr.symmetry import symmetries_of

__all__ = [
    "HOLD_OUT_EVERY",
    "PROBE_MIN_N",
    "AdaptSettings",
    "Adapted",
    "Scan",
    "Trainable",
    "adapt",
    "data_sha256",
    "held_out_gain",
    "probe_gain",
    "split_slices",
]

log = logging.getLogger(__name__)

HOLD_OUT_EVERY = 4
"""Every fourth slice of each map (from the second on) is held out of the adaptation."""


class Trainable(StrEnum):
    """Which parameters adaptation changes."""

    all = "all"
    """Every weight of the generator."""
    conditioning = "conditioning"
    """Everything but the convolution kernels: the conditioning networks (filter scaling,
    metabolite embedding, CIN), biases and PReLU slopes, which change how strongly each
    filter acts, not what it detects."""


@dataclass(frozen=True)
class AdaptSettings:
    """How the network is adapted (defaults: docs/adapt.md, where they were measured)."""

    steps: int = 60
    """Optimiser steps."""
    lr: float = 1e-5
    """Adam learning rate (betas 0.5, 0.9, as the training recipe)."""
    batch_size: int = 8
    """Slices per step (one map per step, drawn at random)."""
    ratio: tuple[float, float] = (0.5, 0.5)
    """``n' / n`` per axis, drawn uniformly per step (rounded, at least 4)."""
    trainable: Trainable = Trainable.all
    """Which parameters change."""
    augment: bool = True
    """A random in-plane flip or quarter turn of the grid per step (:mod:`mrsisr.symmetry`)."""
    seed: int = 0
    """Seed of every draw (step ``k`` draws from ``default_rng([seed, k])``: resumable)."""
    probe: bool = True
    """Also adapt a probe one octave down and check it on the band above, which it never
    trained on (:func:`probe_gain`); the adapted model is trusted only where that rose too."""

    def __post_init__(self) -> None:
        if self.steps < 0 or self.batch_size < 1:
            raise ValueError(f"steps must be >= 0 and batch_size >= 1, got {self}")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr must be a positive number, got {self.lr}")
        low, high = self.ratio
        if not 0 < low <= high < 1:
            raise ValueError(f"ratio must satisfy 0 < low <= high < 1, got {self.ratio}")
        if self.seed < 0:
            raise ValueError(f"seed must be >= 0, got {self.seed}")
        object.__setattr__(self, "trainable", parse_enum(Trainable, self.trainable, "trainable"))

    def to_dict(self) -> dict:
        """JSON-ready."""
        record = asdict(self)
        record["trainable"] = self.trainable.value
        record["ratio"] = list(self.ratio)
        return record


class Scan(NamedTuple):
    """One measured map with its anatomy on its output grid."""

    lr: np.ndarray
    """``(n_y, n_x, S)`` float64 measured map at its acquisition grid."""
    metabolite: Metabolite
    anatomy: Anatomy
    """``(N_y, N_x, S)`` inputs (:meth:`Predictor.prepare_anatomy`)."""


@dataclass
class Adapted:
    """The result of :func:`adapt`."""

    model: nn.Module
    """The adapted generator (eval mode)."""
    settings: AdaptSettings
    losses: list[float] = field(default_factory=list)
    """The training loss of each step."""
    before_db: float = math.nan
    """Held-out self-check gain of the base model (:func:`held_out_gain`)."""
    after_db: float = math.nan
    """The same for the adapted model."""
    probe_db: float = math.nan
    """The same for the probe (:func:`probe_gain`); NaN without one."""
    seconds: float = 0.0

    @property
    def improved(self) -> bool:
        """Whether the adapted model is to be trusted: its held-out self-check gain went up
        and, with a probe (:attr:`AdaptSettings.probe`), the probe's did too.

        The held-out check scores the band adaptation trained on (``n/2 -> n``), so it rises
        even where the real band (``n -> N``) gets worse; the probe learns one octave down
        and is scored on the band above, as the adapted model will be used (docs/adapt.md).
        """
        rose = math.isfinite(self.after_db) and self.after_db > self.before_db
        if not self.settings.probe:
            return rose
        return rose and math.isfinite(self.probe_db) and self.probe_db > self.before_db

    def record(self) -> dict:
        """JSON-ready summary (for sidecars and model headers)."""
        return {
            "settings": self.settings.to_dict(),
            "self_check_before_db": _rounded(self.before_db),
            "self_check_after_db": _rounded(self.after_db),
            "probe_self_check_db": _rounded(self.probe_db),
            "improved": self.improved,
            "final_loss": _rounded(self.losses[-1]) if self.losses else None,
            "seconds": round(self.seconds, 1),
        }


def _rounded(value: float) -> float | None:
    return round(value, 4) if math.isfinite(value) else None


def split_slices(slices: int) -> tuple[list[int], list[int]]:
    """``(train, held_out)`` slice indices: every :data:`HOLD_OUT_EVERY`-th slice from the
    second on is held out; with fewer than two slices, nothing is."""
    held = list(range(1, slices, HOLD_OUT_EVERY)) if slices >= 2 else []
    return [s for s in range(slices) if s not in held], held


def _subset(scan: Scan, slices: Sequence[int]) -> Scan:
    index = list(slices)

    def cut(image: np.ndarray | None) -> np.ndarray | None:
        return None if image is None else image[:, :, index]

    anatomy = Anatomy(
        t1=cut(scan.anatomy.t1),
        flair=cut(scan.anatomy.flair),
        mask=scan.anatomy.mask[:, :, index],
        mask_source=scan.anatomy.mask_source,
    )
    return Scan(scan.lr[:, :, index], scan.metabolite, anatomy)


def held_out_gain(predictor: Predictor, scans: Sequence[Scan]) -> float:
    """Mean over the maps of the calibrated self-check gain (dB, ``n' -> n``, the fitted
    detail weights applied: what ``predict`` outputs) on the held-out slices
    (:func:`split_slices`); NaN where no map has a held-out slice."""
    gains = []
    for scan in scans:
        _, held = split_slices(scan.lr.shape[2])
        if not held:
            continue
        part = _subset(scan, held)
        check = self_check(predictor, part.lr, part.metabolite, part.anatomy)
        if check.ran and math.isfinite(check.gain_db):
            gains.append(check.gain_db)
    return float(np.mean(gains)) if gains else math.nan


PROBE_MIN_N = 12
"""Smallest acquisition size per axis a probe can learn from (its maps are cut to half,
and adaptation cuts those in half again, to at least 4)."""


def _halved(scan: Scan) -> Scan:
    """The scan as if acquired at half its size per axis (rounded up)."""
    half = [math.ceil(v / 2) for v in scan.lr.shape[:2]]
    return scan._replace(lr=np.moveaxis(kspace.degrade(np.moveaxis(scan.lr, 2, 0), half), 0, 2))


def probe_gain(predictor: Predictor, scans: Sequence[Scan], settings: AdaptSettings) -> float:
    """The held-out self-check gain of a probe adapted one octave down (dB; NaN if a map is
    smaller than :data:`PROBE_MIN_N` on an axis).

    The probe is adapted, with the same settings, on the maps cut to half their size
    (``n/4 -> n/2``) and checked on the maps themselves (``n' -> n``): a band it never saw,
    one octave above the one it learned, as the band the adapted model fills (``n -> N``)
    lies one octave above the one it learned. Where adapting helps only the band it trains
    on, the probe falls.
    """
    if any(min(scan.lr.shape[:2]) < PROBE_MIN_N for scan in scans):
        return math.nan
    halves = [_halved(scan) for scan in scans]
    probe = adapt(predictor, halves, replace(settings, probe=False), check=False)
    return held_out_gain(replace(predictor, model=probe.model), scans)


def data_sha256(scans: Sequence[Scan]) -> str:
    """SHA-256 of the maps adapted on (values, sizes and metabolites, in order)."""
    digest = hashlib.sha256()
    for scan in scans:
        digest.update(scan.metabolite.value.encode())
        digest.update(np.asarray(scan.lr.shape, dtype=np.int64).tobytes())
        digest.update(np.ascontiguousarray(scan.lr, dtype=np.float64).tobytes())
    return digest.hexdigest()


def _trainable(model: nn.Module, which: Trainable) -> list[nn.Parameter]:
    params = list(model.parameters())
    chosen = params if which is Trainable.all else [p for p in params if p.ndim != 4]
    for p in params:
        p.requires_grad_(False)
    for p in chosen:
        p.requires_grad_(True)
    return chosen


def _projection(grid: Sequence[int], n: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
    return (
        kspace.projection_matrix(int(grid[0]), int(n[0]), torch.float32),
        kspace.projection_matrix(int(grid[1]), int(n[1]), torch.float32),
    )


def adapt(
    predictor: Predictor,
    scans: Sequence[Scan],
    settings: AdaptSettings | None = None,
    progress: Callable[[int, float], None] | None = None,
    check: bool = True,
    resume: Path | None = None,
) -> Adapted:
    """Fine-tune a copy of the predictor's model on the scans' own degradation.

    Args:
        predictor: the base model (not changed).
        scans: the maps to learn from (their held-out slices are not trained on).
        settings: how (:class:`AdaptSettings`).
        progress: called after each step with ``(step, loss)``.
        check: also measure the held-out self-check gain before and after.
        resume: a file where the state (weights, optimiser, step, losses) is kept every
            :data:`SAVE_EVERY` steps; a run started again with the same model, data and
            settings continues from it (the same result as without interruption), and
            the file is removed at the end.

    Returns:
        :class:`Adapted` with the new model.

    Raises:
        ValueError: no scan, no slice to train on, or a scan the model refuses (shape,
            anatomy grid); UserError: an image the model needs is absent.
    """
    settings = settings or AdaptSettings()
    if not scans:
        raise ValueError("adapt needs at least one map")
    for scan in scans:  # what the base model refuses, adaptation refuses
        predictor.check_volume(scan.lr, scan.anatomy, (0.0,))
    start = time.perf_counter()
    training = [(scan, split_slices(scan.lr.shape[2])[0]) for scan in scans]
    training = [(scan, slices) for scan, slices in training if slices]
    if not training:
        raise ValueError("adapt needs at least one slice to train on")
    before = held_out_gain(predictor, scans) if check else math.nan
    model = copy.deepcopy(predictor.model).float().to(predictor.device)
    params = _trainable(model, settings.trainable)
    optimiser = torch.optim.Adam(params, lr=settings.lr, betas=(0.5, 0.9))
    losses: list[float] = []
    key = _run_key(predictor, scans, settings)
    if resume is not None:
        losses = _load_state(resume, key, model, optimiser)
    model.eval()  # no dropout or batch statistics: the network as it runs at inference
    for step in range(len(losses), settings.steps):
        rng = np.random.default_rng([settings.seed, step])
        scan, slices = training[int(rng.integers(len(training)))]
        chosen = rng.choice(
            slices, size=settings.batch_size, replace=len(slices) < settings.batch_size
        )
        part = _subset(scan, [int(z) for z in chosen])
        measured = np.moveaxis(part.lr, 2, 0)  # (B, n_y, n_x)
        n = measured.shape[-2:]
        ratio = rng.uniform(*settings.ratio)
        coarse_n = tuple(max(4, min(int(v) - 1, round(v * ratio))) for v in n)
        coarse = kspace.degrade(measured, coarse_n)
        inputs, scale = predictor.network_inputs(coarse, part.anatomy)
        target = kspace.zero_fill(measured, part.anatomy.grid) / scale[:, None, None]
        symmetries = symmetries_of(part.anatomy.grid)  # each scan on its own output grid
        sym = symmetries[int(rng.integers(len(symmetries)))] if settings.augment else None
        sizes = [coarse_n, n]
        if sym is not None:
            inputs, target = sym.apply(inputs), sym.apply(target)
            sizes = [sym.size(coarse_n), sym.size(n)]
        x = torch.from_numpy(np.ascontiguousarray(inputs, dtype=np.float32)).to(predictor.device)
        y = torch.from_numpy(np.ascontiguousarray(target, dtype=np.float32)).to(predictor.device)
        batch = x.shape[0]
        cond_n = torch.tensor([sizes[0]] * batch, dtype=torch.int64, device=predictor.device)
        met = torch.full((batch,), index_of(scan.metabolite), device=predictor.device)
        lam = torch.zeros(batch, device=predictor.device)
        flags = presence_flags(part.anatomy.present, batch, predictor.device)
        out = model(x[:, 0:1], x[:, 1:2], x[:, 2:3], x[:, 3:4], cond_n, met, lam, *flags)[:, 0]
        p_y, p_x = (m.to(predictor.device) for m in _projection(out.shape[-2:], sizes[1]))
        seen = p_y @ out @ p_x.T  # the output cut back to the map's own size n
        mask = x[:, 3]
        loss = ((seen - y).abs() * mask).sum() / mask.sum().clamp_min(1.0)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
        if progress is not None:
            progress(step + 1, losses[-1])
        if resume is not None and (step + 1) % SAVE_EVERY == 0 and step + 1 < settings.steps:
            _save_state(resume, key, model, optimiser, losses)
    if resume is not None:
        resume.unlink(missing_ok=True)
    for p in model.parameters():
        p.requires_grad_(False)
    adapted = replace(predictor, model=model.eval())
    after = held_out_gain(adapted, scans) if check else math.nan
    probe = probe_gain(predictor, scans, settings) if check and settings.probe else math.nan
    seconds = time.perf_counter() - start
    result = Adapted(model.eval(), settings, losses, before, after, probe, seconds)
    log.info(
        "adapted %s parameters in %d steps (%.1f s): held-out self-check %+.2f -> %+.2f dB "
        "(probe one octave down: %+.2f dB)",
        settings.trainable.value,
        settings.steps,
        result.seconds,
        before,
        after,
        probe,
    )
    return result


SAVE_EVERY = 10
"""Steps between two saves of the state of a resumable adaptation."""


def _run_key(predictor: Predictor, scans: Sequence[Scan], settings: AdaptSettings) -> str:
    """What a saved state must match to be resumed: the base weights, the data, the settings."""
    digest = hashlib.sha256(data_sha256(scans).encode())
    digest.update(json.dumps(settings.to_dict(), sort_keys=True).encode())
    for name, tensor in predictor.model.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().float().numpy().tobytes())
    return digest.hexdigest()


def _save_state(
    path: Path, key: str, model: nn.Module, optimiser: torch.optim.Optimizer, losses: list[float]
) -> None:
    """Weights and Adam moments in safetensors (no pickle), step and losses in its header."""
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    state = optimiser.state_dict()["state"]
    for index, entry in state.items():
        for name, value in entry.items():
            tensors[f"adam.{index}.{name}"] = torch.as_tensor(value).detach().cpu().reshape(-1)
    header = {"key": key, "losses": json.dumps(losses)}
    partial = path.with_name(path.name + ".tmp")
    save_file(tensors, str(partial), metadata=header)
    partial.replace(path)


def _load_state(
    path: Path, key: str, model: nn.Module, optimiser: torch.optim.Optimizer
) -> list[float]:
    """The losses of the steps a saved state holds (empty: start afresh), loading it."""
    if not path.is_file():
        return []
    try:
        with safe_open(str(path), "pt") as fh:
            header = fh.metadata() or {}
            if header.get("key") != key:
                log.warning("%s: a state of another adaptation; starting afresh", path)
                return []
            tensors = {name: fh.get_tensor(name) for name in fh.keys()}
    except (OSError, SafetensorError) as err:  # a corrupt state is restarted, never trusted
        log.warning("%s: unreadable state (%s); starting afresh", path, err)
        return []
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    state = optimiser.state_dict()
    moments: dict[int, dict[str, torch.Tensor]] = {}
    for name, value in tensors.items():
        if name.startswith("adam."):
            _, index, field_name = name.split(".", 2)
            moments.setdefault(int(index), {})[field_name] = value
    params = [p for group in optimiser.param_groups for p in group["params"]]
    for index, entry in moments.items():
        shape = params[index].shape
        state["state"][index] = {
            "step": entry["step"].reshape(()),
            "exp_avg": entry["exp_avg"].reshape(shape),
            "exp_avg_sq": entry["exp_avg_sq"].reshape(shape),
        }
    optimiser.load_state_dict(state)
    losses = json.loads(header.get("losses", "[]"))
    log.info("%s: resuming the adaptation at step %d", path, len(losses))
    return [float(v) for v in losses]


def save_adapted(path: Path, result: Adapted, base: Path, scans: Sequence[Scan]) -> None:
    """Write the adapted model as a model file whose header says where it came from.

    The header is the base model's (variant, configuration, trained ranges, metadata) with an
    ``adapted`` record: the base file and its SHA-256, the SHA-256 of the data
    (:func:`data_sha256`), the maps, the settings, the steps, the seed and the held-out
    self-check before and after. Weights are stored in float32 (the changes are small next to
    float16's resolution).
    """
    from mrsisr.checkpoint import read_info, save_model

    info = read_info(base)
    record = {
        "base_model": str(Path(base).resolve()),
        "base_sha256": FileHashes()(base),
        "data_sha256": data_sha256(scans),
        "maps": [f"{s.metabolite.value} {'x'.join(map(str, s.lr.shape))}" for s in scans],
        **result.record(),
    }
    metadata = {**info.metadata, "adapted": record}
    save_model(path, result.model, info.variant, info.config, metadata, trained=info.trained)
