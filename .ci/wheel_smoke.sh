#!/usr/bin/env bash
# What `pip install mrsisr` gives a user: build the wheel from the tracked sources, install it
# alone (no extras, no editable source tree) in a fresh venv, and run it:
#   - `mrsisr --help` and `mrsisr --version` (the version pyproject read from mrsisr.__version__);
#   - `mrsisr predict` of a generated 16 x 16 x 2 map with the shipped model: a 64 x 64 x 2 map
#     whose sidecar names the pinned weights (mrsisr.weights.SHIPPED_SHA256);
#   - `mrsisr phantom` without the `sim` extra: an error line naming the extra, exit code 2.
# Called by .ci/run after `make test`; about 1-2 minutes when pip's cache holds torch.
# PY (python3) and TORCH_PIN (the Makefile's CPU torch) can be set; MRSISR_KEEP_SMOKE=1 keeps
# the work folder.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
PY=${PY:-python3}
TORCH_PIN=${TORCH_PIN:-torch==2.13.0}
work=$(mktemp -d "${TMPDIR:-/tmp}/mrsisr-wheel.XXXXXX")
if [ "${MRSISR_KEEP_SMOKE:-0}" != "1" ]; then trap 'rm -rf "$work"' EXIT; fi
say() { echo ".ci/wheel_smoke.sh: $*"; }
fail() { echo ".ci/wheel_smoke.sh: FAILED: $*" >&2; exit 1; }
start=$SECONDS

# The tracked files the wheel is built from (as they are in the working tree): nothing
# untracked, no .venv, no build leftovers in the repository.
mkdir "$work/src"
git ls-files -z pyproject.toml README.md LICENSE src | tar --null -T - -cf - | tar -xf - -C "$work/src"

"$PY" -m venv "$work/venv"
bin=$work/venv/bin
"$bin/python" -m pip install --quiet --upgrade pip
"$bin/python" -m pip wheel --quiet --no-deps --wheel-dir "$work/dist" "$work/src"
wheel=$(ls "$work"/dist/mrsisr-*.whl)
say "built $(basename "$wheel") ($(du -k "$wheel" | cut -f1) kB)"
"$bin/python" -m pip install --quiet "$TORCH_PIN"
"$bin/python" -m pip install --quiet "$wheel"

cd "$work"  # away from the sources: the installed package is the one imported
"$bin/mrsisr" --help >/dev/null
version=$("$bin/mrsisr" --version)
expected="mrsisr $("$bin/python" -c 'import importlib.metadata as m; print(m.version("mrsisr"))')"
[ "$version" = "$expected" ] || fail "mrsisr --version says '$version', the wheel '$expected'"
say "$version: --help runs"

"$bin/python" - <<'EOF'
import nibabel as nib
import numpy as np

# A 16 x 16 x 2 map with content at every frequency (a smooth map would be refused as
# zero-filled), 13.6 mm voxels: the shipped model's 217.6 mm field of view.
rng = np.random.default_rng(0)
data = (5.0 + rng.random((16, 16, 2))).astype(np.float32)
nib.save(nib.Nifti1Image(data, np.diag([13.6, 13.6, 3.4, 1.0])), "lr_tCho.nii.gz")
EOF
mkdir sr
"$bin/mrsisr" predict --met lr_tCho.nii.gz --threads 2 --out sr/ >predict.log 2>&1 \
    || { cat predict.log >&2; fail "mrsisr predict"; }
"$bin/python" - <<'EOF' || fail "the prediction"
import json

import nibabel as nib

from mrsisr.weights import SHIPPED_SHA256

shape = nib.load("sr/sr_tCho.nii.gz").shape
assert shape == (64, 64, 2), f"output shape {shape}, expected (64, 64, 2)"
model = json.load(open("sr/sr_tCho.json"))["model"]
assert model["sha256"] == SHIPPED_SHA256, f"the wheel's model is {model['sha256']}"
EOF
say "predict: 16x16x2 -> 64x64x2 with the pinned shipped model"

if "$bin/python" -c 'import nilearn' 2>/dev/null; then
    fail "nilearn is installed without the sim extra"
fi
set +e
"$bin/mrsisr" phantom --out cohort --patients 1 >phantom.log 2>&1
status=$?
set -e
if [ "$status" -ne 2 ] || grep -q Traceback phantom.log \
    || ! tail -n 1 phantom.log | grep -q "^mrsisr phantom: error: .*mrsisr\[sim\]"; then
    cat phantom.log >&2
    fail "mrsisr phantom without nilearn: expected an error line naming mrsisr[sim], exit 2 (got $status)"
fi
say "phantom without the sim extra: $(tail -n 1 phantom.log)"
say "passed in $((SECONDS - start)) s"
cd "$repo"
