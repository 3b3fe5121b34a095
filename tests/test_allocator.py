"""``mrsisr.allocator``: glibc keeps freed blocks, so repeated large tensors stop page-faulting."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

from mrsisr.allocator import ENV_SWITCH

pytestmark = pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="needs glibc"
)

# Allocate and free tensors of 1..20 MB (the sizes of a training step's activations and
# per-sample kernels) several times; print whether the tuning is on and the minor page faults
# per cycle after the first.
_PROBE = """
import resource, torch
from mrsisr.allocator import keep_freed_memory, keeps_freed_memory
applied = keep_freed_memory()
def cycle():
    blocks = [torch.ones(n * 262144) for n in range(1, 21)]
    del blocks
cycle()
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
before = faults()
for _ in range(5):
    cycle()
print(applied, keeps_freed_memory(), (faults() - before) / 5)
"""


def _probe(switch: str) -> tuple[bool, bool, float]:
    env = {**os.environ, ENV_SWITCH: switch}
    out = subprocess.run(
        [sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    return out[0] == "True", out[1] == "True", float(out[2])


def test_kept_memory_is_reused_without_page_faults() -> None:
    on, on_state, faults_on = _probe("1")
    off, off_state, faults_off = _probe("0")
    assert (on, on_state) == (True, True)
    assert (off, off_state) == (False, False)  # the switch leaves glibc's defaults
    # 210 MB allocated per cycle is 53,760 pages: glibc's defaults return most of it to the
    # system and fault it back in; kept memory is reused.
    assert faults_off > 10_000
    assert faults_on < 0.3 * faults_off


_CLI = """
import contextlib, io
from mrsisr.allocator import keeps_freed_memory
from mrsisr.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    main(["models"])
print(keeps_freed_memory())
"""


def test_every_command_turns_it_on() -> None:
    env = {**os.environ, ENV_SWITCH: "1"}
    out = subprocess.run(
        [sys.executable, "-c", _CLI], env=env, capture_output=True, text=True, check=True
    ).stdout
    assert out.split() == ["True"]
