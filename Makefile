# odibi-stream — the two commands a fresh machine needs: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
EXTRAS ?= dev,kafka,spark,azure,eventhub,otel

.PHONY: demo test setup lint typecheck unit chaos bench clean services services-stop

$(VENV)/.installed: pyproject.toml examples/plugin/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[$(EXTRAS)]'
	# The example plugin (entry points) that tests/integration/plugins exercises.
	$(PY) -m pip install -q -e examples/plugin
	touch $@

setup: $(VENV)/.installed

## Run the daemon on examples/quickstart (local checkpoints, pandas engine, file-watch, local Delta).
demo: setup
	$(PY) scripts/demo.py

## Everything the tests need (deps, services), then lint, types and the full suite; the
## services this run had to start (Kafka, Azurite) are stopped again, pass or fail.
test: setup
	@ledger="$$(mktemp)"; \
	trap 'bash scripts/services.sh stop --ledger "$$ledger"; rm -f "$$ledger"' EXIT; \
	bash scripts/services.sh start --ledger "$$ledger" && \
	$(PY) -m ruff check odibi_stream tests benchmarks scripts examples && \
	$(PY) -m mypy && \
	$(PY) -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

## Start (and install) the local services tests use: Kafka broker, Azurite blob emulator.
services:
	@bash scripts/services.sh start

## Stop them.
services-stop:
	@bash scripts/services.sh stop

lint: setup
	$(PY) -m ruff check odibi_stream tests benchmarks scripts examples

typecheck: setup
	$(PY) -m mypy

chaos: setup
	$(PY) -m pytest -q tests/chaos

bench: setup
	$(PY) benchmarks/files_to_delta.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache examples/quickstart/checkpoints examples/quickstart/data/lake examples/quickstart/data/landing
