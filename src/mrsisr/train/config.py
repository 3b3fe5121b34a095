"""The training configuration: one typed dataclass tree, the single source of every default.

Experiment files (TOML, ``configs/*.toml``) hold whole experiments and only need the keys
they change; an override ``section.key=value`` (:func:`mrsisr.train.config_io.load_config`)
changes any key. Unknown keys are errors that name the closest valid keys. The defaults are
the recipe of Dong et al. (MICCAI 2022) and the authors' code: Adam(1e-4, betas (0.5, 0.9)),
StepLR(40 epochs, 0.5), batch 8, 100 epochs, loss 0.16 L1 + 0.84 (1 - MS-SSIM) + lambda
WGAN-GP (weight 10, 5 critic steps), lambda ~ U[0, 0.1] (0 with probability 0.1), n in
{16, 18, ..., 32}.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mrsisr.errors import UserError, argument
from mrsisr.nn.config import CriticConfig, GeneratorConfig, Variant
from mrsisr.options import Device, Target
from mrsisr.scales import coarsest_side

__all__ = [
    "AdversarialConfig",
    "DataConfig",
    "Device",
    "LossConfig",
    "OptimConfig",
    "TrainConfig",
    "check_config",
]

# Keys whose value may differ when a run is resumed: they change speed or reporting, not the
# numbers a run computes (see ``mrsisr.train.config_io.config_hash``).
RESUME_SAFE = {"resume_safe": True}
N_AXES = ("square", "independent")
"""The values of ``data.n_axes``."""
# Keys added after runs were started: they enter the fingerprint only when set to another
# value than their default, so older runs keep their fingerprint and can still resume.
HASH_WHEN_SET = {"hash_when_set": True}


@dataclass
class DataConfig:
    """What the network sees: metabolites, acquisition sizes, lambda draws, augmentation."""

    metabolites: list[str] = field(default_factory=list)
    """Metabolites to train on; empty: every metabolite all patients have."""
    n_choices: list[int] = field(default_factory=lambda: list(range(16, 33, 2)))
    """Acquisition sizes n, drawn uniformly per sample (per axis with ``n_axes``)."""
    n_axes: str = field(default="square", metadata=HASH_WHEN_SET)
    """``"square"``: ``n x n`` acquisitions; ``"independent"``: ``n_y`` and ``n_x`` drawn
    separately from ``n_choices``, so the network also sees rectangular acquisitions."""
    grids: list[list[int]] = field(default_factory=list, metadata=HASH_WHEN_SET)
    """Output grids ``[N_y, N_x]`` of the training batches, one drawn per batch; empty: the
    cohort's grid (``model.grid``) only. A slice is centre-cropped and/or zero-padded to the
    batch's grid before its acquisition is simulated (same voxel size, another field of
    view), and n is clipped to the grid per axis (docs/data-pipeline.md, "Other output
    grids"). Validation stays on ``model.grid``."""
    lam_range: tuple[float, float] = (0.0, 0.1)
    """Lambda is drawn uniformly in this range (used only with the adversarial term)."""
    lam_zero_prob: float = 0.1
    """Probability that a sample's lambda is exactly 0."""
    augment: bool = True
    """Random flips, quarter turns and shifts of the training slices."""
    max_shift: int = 3
    """Largest augmentation shift, in voxels."""
    folds: int = 5
    """Number of patient-wise cross-validation folds."""
    split_seed: int = 0
    """Seed of the patient shuffle that makes the folds."""
    val_all_n: bool = False
    """Validate every map at every n (9x slower); default: one fixed n per map."""
    presence_probs: tuple[float, float, float, float] = field(
        default=(1.0, 0.0, 0.0, 0.0), metadata=HASH_WHEN_SET
    )
    """Modality dropout: probabilities that a training sample keeps both images, only its T1,
    only its FLAIR, or neither (an absent image becomes zeros, as at inference). Anything but
    ``[1, 0, 0, 0]`` needs ``model.presence = true``. Validation always has both images."""
    window_probs: tuple[float, float, float, float] = field(
        default=(1.0, 0.0, 0.0, 0.0), metadata=HASH_WHEN_SET
    )
    """Acquisition windows of the training inputs: probabilities that a sample's k-space is
    the whole n x n box, Hamming-filtered, sampled on the inscribed ellipse, or both
    (:func:`mrsisr.kspace.acquisition_window`), as MRSI protocols filter and sample. The
    target is unchanged; data consistency then keeps only the frequencies measured
    unfiltered (docs/data-pipeline.md, "Acquisition windows"). Validation always uses the
    whole box."""
    target: str = field(default=Target.measured.value, metadata=HASH_WHEN_SET)
    """What the training maps are compared with: ``"measured"`` (the cohort's maps) or, for a
    simulated cohort with noiseless maps, ``"noiseless"``: the noiseless map with the
    measured map's acquired k-space (:func:`mrsisr.data.dataset.noiseless_target`), so that
    neither the loss nor the critic asks for the noise that cannot be predicted. Validation
    always scores against the measured maps, as evaluation does."""
    grouped_batches: bool = field(default=False, metadata=HASH_WHEN_SET)
    """Batches of one metabolite and one n (the authors' sampler); faster steps, each layer
    then runs one plain convolution (``docs/benchmarks.md``). Default: mixed batches."""
    num_workers: int = field(default=0, metadata=RESUME_SAFE)
    """DataLoader worker processes (0: load in the training process)."""


@dataclass
class LossConfig:
    """Reconstruction loss ``(1 - alpha) L1 + alpha (1 - MS-SSIM)``, inside the mask."""

    alpha: float = 0.84
    """Weight of the MS-SSIM term."""
    ms_ssim_scales: int = 3
    """MS-SSIM scales (3 suit 64 x 64 maps with an 11-voxel window)."""
    ms_ssim_window: int = 11
    """Gaussian window width of (MS-)SSIM, odd."""


@dataclass
class AdversarialConfig:
    """Conditional WGAN-GP critic; off, or lambda always 0, means no critic at all."""

    enabled: bool = True
    """Train with the adversarial term (the network still takes lambda, always 0 if off)."""
    n_critic: int = 5
    """Critic updates per generator update."""
    gp_weight: float = 10.0
    """Weight of the gradient penalty."""
    critic: CriticConfig = field(default_factory=CriticConfig)
    """Architecture of the critic."""


@dataclass
class OptimConfig:
    """Adam for both networks and a step learning-rate schedule."""

    lr: float = 1e-4
    """Learning rate of the generator."""
    critic_lr: float = 1e-4
    """Learning rate of the critic."""
    betas: tuple[float, float] = (0.5, 0.9)
    """Adam's betas (both networks)."""
    weight_decay: float = 0.0
    """L2 weight decay (both networks)."""
    step_epochs: int = 40
    """Multiply the learning rates by ``gamma`` every this many epochs."""
    gamma: float = 0.5
    """Learning-rate decay factor."""
    fused: bool = True
    """Fused Adam kernel where the device supports it (much faster on CPU)."""


@dataclass
class TrainConfig:
    """A whole training experiment."""

    variant: Variant = Variant.full
    """Generator variant (:class:`mrsisr.nn.config.Variant`)."""
    epochs: int = field(default=100, metadata=RESUME_SAFE)
    """Number of epochs (may be raised when resuming)."""
    batch_size: int = 8
    """Samples per optimisation step (per process with torchrun)."""
    seed: int = 0
    """Seed of initialisation, data draws and gradient-penalty interpolation."""
    init_model: str = field(default="", metadata=HASH_WHEN_SET)
    """A model file whose generator weights the run starts from (same variant and
    architecture); empty: a random initialisation. Its SHA-256 is recorded with the run."""
    steps_per_epoch: int = 0
    """Stop each epoch after this many steps (0: the whole training set)."""
    val_batch_size: int = field(default=32, metadata=RESUME_SAFE)
    """Samples per validation batch."""
    threads: int = field(default=0, metadata=RESUME_SAFE)
    """Torch CPU threads per process (0: automatic, :func:`mrsisr.machine.cpu_threads`)."""
    device: Device = field(default=Device.auto, metadata=RESUME_SAFE)
    """``auto``, ``cpu`` or ``cuda``."""
    progress: bool = field(default=True, metadata=RESUME_SAFE)
    """Show a progress bar (on an interactive terminal)."""
    tensorboard: bool = field(default=True, metadata=RESUME_SAFE)
    """Write TensorBoard events if the ``tensorboard`` package is installed."""
    model: GeneratorConfig = field(default_factory=GeneratorConfig)
    """Architecture of the generator."""
    data: DataConfig = field(default_factory=DataConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    adversarial: AdversarialConfig = field(default_factory=AdversarialConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)

    @property
    def uses_critic(self) -> bool:
        """Whether a critic is trained: adversarial on and some lambda can be positive."""
        return self.adversarial.enabled and self.data.lam_range[1] > 0

    @property
    def lam_range(self) -> tuple[float, float]:
        """The lambda range the data draws from: ``(0, 0)`` without a critic."""
        low, high = self.data.lam_range
        return (float(low), float(high)) if self.uses_critic else (0.0, 0.0)


def check_config(config: TrainConfig) -> TrainConfig:
    """Check the ranges of the values, and the values that depend on others.

    A configuration may come from a file someone sent, so every count has an upper bound
    (far above any experiment's, far below one that would exhaust a machine) and every real
    number must be finite. The checks run in order and stop at the first failure, so a
    later rule never computes with a value an earlier one refused.

    Raises:
        UserError: naming the key and the accepted values.
    """
    c, data, loss = config, config.data, config.loss
    grid = min(c.model.grid)
    smallest = min([grid, *(min(g) for g in data.grids if _grid_pair(g))])
    checks: list[tuple[str, Callable[[], bool], str]] = [
        ("epochs", lambda: 1 <= c.epochs <= 100_000, "must be in 1..100000"),
        ("batch_size", lambda: 1 <= c.batch_size <= 4096, "must be in 1..4096"),
        ("val_batch_size", lambda: 1 <= c.val_batch_size <= 4096, "must be in 1..4096"),
        (
            "steps_per_epoch",
            lambda: 0 <= c.steps_per_epoch <= 10**9,
            "must be in 0..1e9 (0: whole epochs)",
        ),
        ("threads", lambda: 0 <= c.threads <= 1024, "must be in 0..1024 (0: automatic)"),
        ("seed", lambda: 0 <= c.seed < 2**63, "must be in 0..2**63 - 1"),
        ("data.n_choices", lambda: 1 <= len(data.n_choices) <= grid, "must hold 1..N values"),
        (
            "data.n_choices",
            lambda: all(1 <= n <= grid for n in data.n_choices),
            f"must lie in 1..{grid} (model.grid)",
        ),
        (
            "data.grids",
            lambda: len(data.grids) <= _MAX_GRIDS and all(_grid_pair(g) for g in data.grids),
            f"must be at most {_MAX_GRIDS} [N_y, N_x] pairs of integers, each in "
            f"{_GRID_SIZES.start}..{_GRID_SIZES.stop - 1}",
        ),
        (
            "data.lam_range",
            lambda: _finite(*data.lam_range) and 0 <= data.lam_range[0] <= data.lam_range[1],
            "must be [low, high] with 0 <= low <= high, finite",
        ),
        (
            "data.n_choices",
            lambda: c.variant != Variant.single_scale or len(data.n_choices) == 1,
            "must hold one value with variant single_scale (one network per n), "
            f"e.g. {argument('overrides')} data.n_choices=[24]",
        ),
        (
            "data.n_axes",
            lambda: data.n_axes in N_AXES,
            "must be " + " or ".join(f"'{a}'" for a in N_AXES),
        ),
        ("data.lam_zero_prob", lambda: 0 <= data.lam_zero_prob <= 1, "must be in [0, 1]"),
        (
            "data.presence_probs",
            lambda: _probabilities(data.presence_probs),
            "must be 4 probabilities [both, T1 only, FLAIR only, none] summing to 1",
        ),
        (
            "data.presence_probs",
            lambda: c.model.presence or tuple(data.presence_probs)[1:] == (0, 0, 0),
            "drops images, which needs model.presence = true",
        ),
        (
            "data.window_probs",
            lambda: _probabilities(data.window_probs),
            "must be 4 probabilities [none, hamming, elliptical, elliptical_hamming] summing to 1",
        ),
        (
            "data.target",
            lambda: data.target in Target.choices(),
            "must be " + " or ".join(f"'{t}'" for t in Target.choices()),
        ),
        ("data.max_shift", lambda: 0 <= data.max_shift <= grid // 2, f"must be in 0..{grid // 2}"),
        ("data.folds", lambda: 3 <= data.folds <= 1000, "must be in 3..1000 (train, val, test)"),
        ("data.split_seed", lambda: 0 <= data.split_seed < 2**63, "must be in 0..2**63 - 1"),
        ("data.num_workers", lambda: 0 <= data.num_workers <= 256, "must be in 0..256"),
        ("loss.alpha", lambda: 0 <= loss.alpha <= 1, "must be in [0, 1]"),
        ("loss.ms_ssim_scales", lambda: 1 <= loss.ms_ssim_scales <= 8, "must be in 1..8"),
        (
            "loss.ms_ssim_window",
            lambda: 3 <= loss.ms_ssim_window <= smallest and loss.ms_ssim_window % 2 == 1,
            f"must be an odd integer in 3..{smallest}",
        ),
        (
            "loss.ms_ssim_window",
            lambda: loss.ms_ssim_window <= coarsest_side(smallest, loss.ms_ssim_scales),
            f"must fit the coarsest MS-SSIM scale of a {smallest}-voxel grid (the smallest "
            "side of model.grid and data.grids; lower loss.ms_ssim_scales or the window)",
        ),
        ("adversarial.n_critic", lambda: 1 <= c.adversarial.n_critic <= 100, "must be in 1..100"),
        (
            "adversarial.gp_weight",
            lambda: _finite(c.adversarial.gp_weight) and c.adversarial.gp_weight >= 0,
            "must be a finite number >= 0",
        ),
        ("optim.lr", lambda: _finite(c.optim.lr) and c.optim.lr > 0, "must be finite and > 0"),
        (
            "optim.critic_lr",
            lambda: _finite(c.optim.critic_lr) and c.optim.critic_lr > 0,
            "must be finite and > 0",
        ),
        ("optim.betas", lambda: all(0 <= b < 1 for b in c.optim.betas), "must be in [0, 1)"),
        (
            "optim.weight_decay",
            lambda: _finite(c.optim.weight_decay) and c.optim.weight_decay >= 0,
            "must be a finite number >= 0",
        ),
        ("optim.step_epochs", lambda: 1 <= c.optim.step_epochs <= 100_000, "must be in 1..100000"),
        ("optim.gamma", lambda: 0 < c.optim.gamma <= 1, "must be in (0, 1]"),
    ]
    for key, ok, rule in checks:
        if not ok():
            value = _get(config, key)
            raise UserError(f"config key {key} = {value!r} {rule}")
    return config


_GRID_SIZES = range(8, 257)
"""The sizes ``N_y`` and ``N_x`` a ``data.grids`` entry may have."""
_MAX_GRIDS = 64
"""The most entries ``data.grids`` may hold."""


def _grid_pair(value: Any) -> bool:
    """An ``[N_y, N_x]`` pair of integers in :data:`_GRID_SIZES`."""
    return (
        isinstance(value, (list, tuple))
        and len(value) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) and v in _GRID_SIZES for v in value)
    )


def _probabilities(values: tuple[float, ...]) -> bool:
    """Four finite, non-negative numbers that sum to 1."""
    return (
        len(values) == 4 and _finite(*values) and min(values) >= 0 and abs(sum(values) - 1) <= 1e-6
    )


def _finite(*values: float) -> bool:
    return all(math.isfinite(v) for v in values)


def _get(config: Any, key: str) -> Any:
    for part in key.split("."):
        config = getattr(config, part)
    return config
