"""Networks: the conditioned multi-encoder UNet (every variant of the paper), the critic, and
data consistency.

Import what you need from the submodules, e.g. ``from mrsisr.nn.variants import
build_generator``. The parts: ``blocks`` (per-sample convolutions, conditional norms, the
MCM), ``conditioning`` (the fully-connected layers on the conditions), ``unet``, ``critic``,
``dc`` and ``config``.
"""
