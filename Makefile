# Everything a user or CI runs. `make demo` and `make test` work on a fresh clone: they build .venv themselves.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export PATH := $(CURDIR)/$(BIN):$(PATH)
export AWS_DEFAULT_REGION ?= us-east-1
export SAM_CLI_TELEMETRY := 0
PYTEST_ARGS ?=

.PHONY: demo test lint typecheck unit integration properties soak validate build bench bench-check lock clean

# The venv, the pinned tools, and the project itself (editable) so the `mirror-audit` command is on PATH in .venv.
# uv (pinned, and in the lock) installs the lock in seconds where pip takes about a minute; its dependencies and
# setuptools come from the lock, hence --no-deps --no-build-isolation for the project (no extra download).
UV_VERSION := $(shell sed -n 's/^uv==//p' requirements-dev.txt)
$(BIN)/.installed: requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(BIN)/uv pip install --quiet --python $(BIN)/python -r requirements-dev.txt
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps --no-build-isolation --editable .
	touch $@

demo: $(BIN)/.installed
	$(BIN)/python -m simulation.demo

test: lint typecheck unit integration properties validate build bench-check

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(BIN)/.installed
	$(BIN)/mypy layers/mirroring/python functions simulation bench
	$(BIN)/mypy --python-version 3.13 layers/mirroring/python functions

unit: $(BIN)/.installed
	$(BIN)/pytest tests/unit $(PYTEST_ARGS)

integration: $(BIN)/.installed
	$(BIN)/pytest tests/integration -n 2 $(PYTEST_ARGS)

# Invariants under random histories, a fault at every call, races, bad input, a throttled burst over HTTP
# (tests/properties). `make properties` runs the fast profile (200 histories, a burst of 100); `make soak` the long
# one (3000 histories of up to 40 steps, a burst of 500). Each prints its figures at the end.
properties: $(BIN)/.installed
	$(BIN)/pytest tests/properties -n 2 $(PYTEST_ARGS)

soak: $(BIN)/.installed
	HYPOTHESIS_PROFILE=soak $(BIN)/pytest tests/properties -n 2 $(PYTEST_ARGS)

validate: $(BIN)/.installed
	$(BIN)/sam validate --lint --template template.yaml
	$(BIN)/cfn-lint -t template.yaml -a cfn_lint_serverless.rules

build: $(BIN)/.installed
	$(BIN)/sam build --template template.yaml --build-dir .aws-sam/build

# Every figure of docs/benchmarks.md, measured again (under 10 minutes): bench/results.json, docs/benchmarks.md and
# docs/benchmarks-reconcile.png. bench-check (part of test) runs the same code at toy sizes, without sam build or plot.
bench: $(BIN)/.installed
	$(BIN)/python -m bench.run

bench-check: $(BIN)/.installed
	$(BIN)/pytest tests/bench $(PYTEST_ARGS)

lock: $(BIN)/.installed
	$(BIN)/uv pip compile requirements-dev.in -o requirements-dev.txt --python-version 3.11 --no-header

clean:
	rm -rf $(VENV) .aws-sam .mypy_cache .ruff_cache .pytest_cache
