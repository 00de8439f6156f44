# odibi-stream — the two commands a fresh machine needs: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
EXTRAS ?= dev,kafka,spark,azure,eventhub,otel

.PHONY: demo test setup lint typecheck unit chaos bench clean services services-stop deploy-services deploy-test

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
## The deployment tests (tests/deploy: image, compose, systemd, Kubernetes) run last; their
## preparation (Docker engine, images, a Kubernetes build) is started first, in the background,
## and stopped on any exit. ODIBI_SKIP_DEPLOY=1 skips them (quick local runs); otherwise they
## must run: ODIBI_REQUIRE_DEPLOY=1 turns any skip into a failure.
test:
	@ledger="$$(mktemp)"; \
	trap 'bash scripts/services.sh stop --ledger "$$ledger"; rm -f "$$ledger"; \
	      bash scripts/deploy/prepare.sh --reap; bash scripts/deploy/dockerd.sh stop' EXIT; \
	$(MAKE) --no-print-directory deploy-services setup && \
	bash scripts/services.sh start --ledger "$$ledger" && \
	$(PY) -m ruff check odibi_stream tests benchmarks scripts examples && \
	$(PY) -m mypy || exit 1; \
	$(PY) -m pytest -q -p no:cacheprovider --ignore=tests/deploy $(PYTEST_ARGS); suite=$$?; \
	ODIBI_REQUIRE_DEPLOY=1 $(PY) -m pytest -q -p no:cacheprovider tests/deploy; deploy=$$?; \
	[ $$suite = 0 ] && [ $$deploy = 0 ]

## Starts the deployment tests' preparation in the background (its apt step in the foreground).
deploy-services:
	@if [ "$${ODIBI_SKIP_DEPLOY:-}" = 1 ]; then \
	  echo "deploy: ODIBI_SKIP_DEPLOY=1: deployment tests and their preparation skipped"; \
	else bash scripts/deploy/prepare.sh --background; fi

## Only the deployment tests (prepared in the foreground; the engine is stopped afterwards).
deploy-test: setup
	@trap 'bash scripts/deploy/dockerd.sh stop' EXIT; \
	ODIBI_REQUIRE_DEPLOY=1 $(PY) -m pytest -q -p no:cacheprovider tests/deploy

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
	-bash scripts/deploy/cluster.sh down 2>/dev/null; bash scripts/deploy/dockerd.sh stop 2>/dev/null
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache examples/quickstart/checkpoints examples/quickstart/data/lake examples/quickstart/data/landing
