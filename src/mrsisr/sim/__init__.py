"""The in-silico cohorts: simulators that write patients in the cohort format of
:mod:`mrsisr.data`. Nothing of the product imports them (``mrsisr predict``, ``adapt``,
``report`` and their library run without this package; tests/test_architecture.py checks);
``mrsisr phantom`` and ``mrsisr demo`` do. They need the ``sim`` extra (nilearn's MNI152
template).

One module per simulator (the choices of ``mrsisr phantom``, :class:`~.simulators.Simulator`):

* :mod:`.glioma`: ``paper``, the glioma phantom of the paper's reproduction.
* :mod:`.randomised`: ``randomised``, the domain-randomised training simulator, which draws
  from the ranges of a preset (:mod:`.presets`: ``training``; ``shifted``, the test set drawn
  with settings training never used).
* :mod:`.realistic`: the effects of the ``realistic`` preset (training maps like real ones).
* :mod:`.real_like`: ``real-like``, the shifted test set given the statistics of real maps.
* :mod:`.final_test`: ``final``, the final test set (the training preset, a seed of its own).

The shared pieces: :mod:`.simulators` (the choice, light: the command line lists it),
:mod:`.cohort` (a cohort folder from any simulator, its digest), :mod:`.mrsi` (the MRSI
grid, k-space truncation onto it, the quality mask, the labels), :mod:`.anatomy` (the
MNI152 template, smooth fields, warps), :mod:`.tissue` (concentrations, contrasts, noise),
:mod:`.tumour` (a glioma's shape), :mod:`.contrast` and :mod:`.lesions` (the randomised
images and lesions), :mod:`.preview` (a picture of a simulated patient).

Submodules are imported where used; this package imports nothing on its own.
"""
