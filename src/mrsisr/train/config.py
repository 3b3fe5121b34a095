"""The training configuration: one typed dataclass tree, the single source of every default.

Experiment files (TOML, ``configs/*.toml``) hold whole experiments and only need the keys
they change; ``--set section.key=value`` overrides any key from the command line. Unknown
keys are errors that name the closest valid keys. The defaults are the recipe of Dong et al.
(MICCAI 2022) and the authors' code: Adam(1e-4, betas (0.5, 0.9)), StepLR(40 epochs, 0.5),
batch 8, 100 epochs, loss 0.16 L1 + 0.84 (1 - MS-SSIM) + lambda WGAN-GP (weight 10, 5 critic
steps), lambda ~ U[0, 0.1] (0 with probability 0.1), n in {16, 18, ..., 32}.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from mrsisr.errors import UserError
from mrsisr.nn.config import CriticConfig, GeneratorConfig

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
# Keys added after runs were started: they enter the fingerprint only when set to another
# value than their default, so older runs keep their fingerprint and can still resume.
HASH_WHEN_SET = {"hash_when_set": True}


class Device(str, enum.Enum):
    """Where to train: ``auto`` picks CUDA when available."""

    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"

    def __str__(self) -> str:
        return self.value


@dataclass
class DataConfig:
    """What the network sees: metabolites, acquisition sizes, lambda draws, augmentation."""

    metabolites: list[str] = field(default_factory=list)
    """Metabolites to train on; empty: every metabolite all patients have."""
    n_choices: list[int] = field(default_factory=lambda: list(range(16, 33, 2)))
    """Acquisition sizes n (square), drawn uniformly per sample."""
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

    variant: str = "full"
    """Generator variant (``mrsisr.nn.variants.Variant``)."""
    epochs: int = field(default=100, metadata=RESUME_SAFE)
    """Number of epochs (may be raised when resuming)."""
    batch_size: int = 8
    """Samples per optimisation step (per process with torchrun)."""
    seed: int = 0
    """Seed of initialisation, data draws and gradient-penalty interpolation."""
    steps_per_epoch: int = 0
    """Stop each epoch after this many steps (0: the whole training set)."""
    val_batch_size: int = field(default=32, metadata=RESUME_SAFE)
    """Samples per validation batch."""
    threads: int = field(default=0, metadata=RESUME_SAFE)
    """Torch CPU threads per process (0: the cores divided by the local processes)."""
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
        return tuple(self.data.lam_range) if self.uses_critic else (0.0, 0.0)


def check_config(config: TrainConfig) -> TrainConfig:
    """Check the values that each depend on others or on a range.

    Raises:
        UserError: naming the key and the accepted values.
    """
    grid = min(config.model.grid)
    checks = [
        (config.epochs >= 1, "epochs", "must be >= 1"),
        (config.batch_size >= 1, "batch_size", "must be >= 1"),
        (config.val_batch_size >= 1, "val_batch_size", "must be >= 1"),
        (config.steps_per_epoch >= 0, "steps_per_epoch", "must be >= 0 (0: whole epochs)"),
        (config.threads >= 0, "threads", "must be >= 0 (0: automatic)"),
        (config.seed >= 0, "seed", "must be >= 0"),
        (bool(config.data.n_choices), "data.n_choices", "must hold at least one n"),
        (
            all(1 <= n <= grid for n in config.data.n_choices),
            "data.n_choices",
            f"must lie in 1..{grid} (model.grid)",
        ),
        (
            0 <= config.data.lam_range[0] <= config.data.lam_range[1],
            "data.lam_range",
            "must be [low, high] with 0 <= low <= high",
        ),
        (0 <= config.data.lam_zero_prob <= 1, "data.lam_zero_prob", "must be in [0, 1]"),
        (config.data.folds >= 3, "data.folds", "must be >= 3 (train, val, test)"),
        (config.data.num_workers >= 0, "data.num_workers", "must be >= 0"),
        (0 <= config.loss.alpha <= 1, "loss.alpha", "must be in [0, 1]"),
        (config.loss.ms_ssim_scales >= 1, "loss.ms_ssim_scales", "must be >= 1"),
        (
            config.loss.ms_ssim_window >= 3 and config.loss.ms_ssim_window % 2 == 1,
            "loss.ms_ssim_window",
            "must be an odd integer >= 3",
        ),
        (
            config.loss.ms_ssim_window <= -(-grid // 2 ** (config.loss.ms_ssim_scales - 1)),
            "loss.ms_ssim_window",
            f"must fit the coarsest MS-SSIM scale of a {grid}-voxel grid "
            "(lower loss.ms_ssim_scales or the window)",
        ),
        (config.adversarial.n_critic >= 1, "adversarial.n_critic", "must be >= 1"),
        (config.adversarial.gp_weight >= 0, "adversarial.gp_weight", "must be >= 0"),
        (config.optim.lr > 0 and config.optim.critic_lr > 0, "optim.lr", "must be > 0"),
        (config.optim.step_epochs >= 1, "optim.step_epochs", "must be >= 1"),
        (0 < config.optim.gamma <= 1, "optim.gamma", "must be in (0, 1]"),
    ]
    for ok, key, rule in checks:
        if not ok:
            value = _get(config, key)
            raise UserError(f"config key {key} = {value!r} {rule}")
    return config


def _get(config: Any, key: str) -> Any:
    for part in key.split("."):
        config = getattr(config, part)
    return config
