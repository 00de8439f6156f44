# odibi-stream — the two commands a fresh machine needs: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
EXTRAS ?= dev,kafka,spark

.PHONY: demo test setup lint typecheck unit chaos bench clean services deploy-services deploy-test

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
## The deployment tests (tests/deploy: image, compose, systemd, Kubernetes) run last; their
## preparation (Docker engine, images, a Kubernetes build) runs in the background meanwhile and
## is stopped on any exit (the trap). ODIBI_SKIP_DEPLOY=1 skips them (quick local runs);
## otherwise they must run: ODIBI_REQUIRE_DEPLOY=1 turns any skip into a failure.
test:
	@trap 'bash scripts/deploy/prepare.sh --reap; bash scripts/deploy/dockerd.sh stop' EXIT; \
	$(MAKE) --no-print-directory deploy-services && \
	$(MAKE) --no-print-directory setup services && \
	$(PY) -m ruff check odibi_stream tests benchmarks scripts && \
	$(PY) -m mypy || exit 1; \
	$(PY) -m pytest -q -p no:cacheprovider --ignore=tests/deploy $(PYTEST_ARGS); suite=$$?; \
	ODIBI_REQUIRE_DEPLOY=1 $(PY) -m pytest -q -p no:cacheprovider tests/deploy; deploy=$$?; \
	[ $$suite = 0 ] && [ $$deploy = 0 ]

## Starts the deployment tests' preparation in the background (apt first, in the foreground).
deploy-services:
	@if [ "$${ODIBI_SKIP_DEPLOY:-}" = 1 ]; then \
	  echo "deploy: ODIBI_SKIP_DEPLOY=1: deployment tests and their preparation skipped"; \
	else bash scripts/deploy/prepare.sh --background; fi

## Only the deployment tests (prepares in the foreground; cleans up after itself).
deploy-test: setup
	@trap 'bash scripts/deploy/dockerd.sh stop' EXIT; \
	ODIBI_REQUIRE_DEPLOY=1 $(PY) -m pytest -q -p no:cacheprovider tests/deploy

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
	-bash scripts/deploy/cluster.sh down 2>/dev/null; bash scripts/deploy/dockerd.sh stop 2>/dev/null
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache examples/quickstart/checkpoints examples/quickstart/data/lake examples/quickstart/data/landing
