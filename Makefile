# odibi-stream — the two commands a fresh machine needs: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
EXTRAS ?= dev,kafka,spark,eventhub

.PHONY: demo test setup lint typecheck unit chaos bench clean services

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[$(EXTRAS)]'
	touch $@

setup: $(VENV)/.installed

## Run the daemon on examples/quickstart (local checkpoints, pandas engine, file-watch, local Delta).
demo: setup
	$(PY) scripts/demo.py

## Everything the tests need (deps, services), then lint, types and the full suite.
test: setup services
	$(PY) -m ruff check odibi_stream tests benchmarks scripts
	$(PY) -m mypy
	$(PY) -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

services:
	@bash scripts/services.sh

lint: setup
	$(PY) -m ruff check odibi_stream tests benchmarks scripts

typecheck: setup
	$(PY) -m mypy

chaos: setup
	$(PY) -m pytest -q tests/chaos

bench: setup
	$(PY) benchmarks/files_to_delta.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache examples/quickstart/checkpoints examples/quickstart/data/lake examples/quickstart/data/landing
