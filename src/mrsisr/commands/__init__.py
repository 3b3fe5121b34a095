"""Sub-commands of the ``mrsisr`` command line (see :mod:`mrsisr.cli`)."""
