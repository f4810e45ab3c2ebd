# The two commands of the README: `make run` and `make test`.
# Both create a local virtual environment (.venv) and install the project into it.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test coverage lint install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed-run: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test,dev]'
	touch $@

install: $(VENV)/.installed-run

# The walkthrough, running: `gateway demo` sets up ./var/demo on first use (store, master
# key, the walkthrough's users, an access key for `backup`; secrets printed once), serves a
# demo object store behind the gateway, shows an allowed and a denied call with their audit
# events, prints commands to try, and serves until Ctrl-C. Later runs reuse ./var/demo.
# Flags go in DEMO_ARGS, e.g. `make run DEMO_ARGS="--port 8081 --upstream-port 9001"`.
run: $(VENV)/.installed-run
	$(BIN)/gateway demo $(DEMO_ARGS)

# The whole suite. The PostgreSQL half runs when GATEWAY_TEST_POSTGRES_DSN is set
# (.ci/run sets it); without it those tests are reported as skipped.
test: $(VENV)/.installed-test
	$(BIN)/python -m pytest

# Branch coverage; the policy engine and authentication must stay at 100 %.
coverage: $(VENV)/.installed-test
	$(BIN)/python -m coverage run -m pytest
	$(BIN)/python -m coverage report --include='gateway/policy/*,gateway/auth/*' --fail-under=100
	$(BIN)/python -m coverage report

lint: $(VENV)/.installed-test
	$(BIN)/ruff check gateway plugins tests benchmarks
	$(BIN)/ruff format --check gateway plugins tests benchmarks
	$(BIN)/mypy

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
