"""Test-suite settings shared by every test folder.

Hypothesis draws its examples from a fixed seed by default, so ``make test`` and CI give the
same verdict on the same code; ``HYPOTHESIS_PROFILE=explore`` draws fresh examples (and more
of them) to look for new failures.
"""

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True)
settings.register_profile("explore", max_examples=500)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
