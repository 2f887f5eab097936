# pixvault: `make run` serves the app, `make test` runs every check. Both bootstrap .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: help run test check lint format bench clean

help:  ## list targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-8s %s\n", $$1, $$2}'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.run-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.dev-installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.run-installed

run: $(VENV)/.run-installed  ## serve API + web UI on http://127.0.0.1:8000 (SQLite + ./data)
	$(BIN)/pixvault serve --host $(HOST) --port $(PORT)

check: $(VENV)/.dev-installed  ## ruff format --check, ruff check, mypy --strict
	$(BIN)/ruff format --no-cache --check src tests bench
	$(BIN)/ruff check --no-cache src tests bench
	$(BIN)/mypy --strict src

test: check  ## all checks, then the whole test suite
	$(BIN)/python -m pytest

format: $(VENV)/.dev-installed  ## apply ruff formatting and safe fixes
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

bench: $(VENV)/.dev-installed  ## run the benchmarks and print their table
	$(BIN)/python -m bench

clean:  ## remove the virtualenv and caches (keeps ./data)
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
