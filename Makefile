# partnerscore: `make help` lists the targets.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
UV := $(VENV)/bin/uv
WORKSPACE ?= partnerscore-workspace
# Tests and benchmarks pin math libraries to one thread: on shared machines
# two-thread fits were seen 3-10x slower under contention.
TEST_ENV := OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1

.DEFAULT_GOAL := help
.PHONY: help install demo test lint bench clean lock system-deps

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml requirements.lock
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check "uv>=0.5,<1"
	$(UV) pip install --quiet --python $(PY) --compile-bytecode -c requirements.lock -e ".[dev,spark,team]"
	touch $@

install: $(VENV)/.installed ## Create .venv and install partnerscore with its pinned dependencies

demo: install ## Train on the sample history, register the model, score the sample proposals
	$(VENV)/bin/partnerscore --workspace $(WORKSPACE) demo

lint: install ## ruff and mypy
	$(VENV)/bin/ruff check model pipelines tests bench
	$(VENV)/bin/mypy

system-deps: ## Debian packages the tests need (see deploy/system-deps.sh)
	bash deploy/system-deps.sh

# The suite runs on two workers (pytest-xdist), each test module on one of them so that
# a module's trained models are built once (the session's, once per worker);
# TEST_WORKERS=0 runs everything in this process.
TEST_WORKERS ?= 2

test: install system-deps lint ## Lint, then the whole test suite
	$(TEST_ENV) $(VENV)/bin/pytest -q -n $(TEST_WORKERS) --dist loadscope

bench: install ## Benchmarks under bench/ (prints their figures)
	$(TEST_ENV) $(PY) bench/run_all.py

lock: ## Re-resolve requirements.lock from pyproject.toml
	$(UV) pip compile --quiet --python $(PY) --extra dev --extra spark --extra team pyproject.toml -o requirements.lock

clean: ## Remove the virtual environment and caches (never the workspace)
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
