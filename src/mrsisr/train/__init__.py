"""Training: the configuration, losses, the GAN step, checkpoints, the epoch loop and DDP.

Import the submodule you need:

* :mod:`mrsisr.train.config` — :class:`~mrsisr.train.config.TrainConfig`, every default;
* :mod:`mrsisr.train.config_io` — TOML files, ``key=value`` overrides, config hash;
* :mod:`mrsisr.train.losses` — masked L1 + MS-SSIM, WGAN-GP terms;
* :mod:`mrsisr.train.engine` — :class:`~mrsisr.train.engine.GanTrainer` (one step);
* :mod:`mrsisr.train.state` — safetensors training checkpoints;
* :mod:`mrsisr.train.plan` — :func:`~mrsisr.train.plan.plan_run`: every check, nothing written;
* :mod:`mrsisr.train.loop` — :class:`~mrsisr.train.loop.TrainingLoop`, the epochs;
* :mod:`mrsisr.train.run` — :func:`~mrsisr.train.run.train` (what ``mrsisr train`` calls);
* :mod:`mrsisr.train.blend` — a model and its fine-tuning interpolated (``mrsisr blend``).

See ``docs/training.md``.
"""
