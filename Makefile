# pixvault: `make run` serves the app, `make test` runs every check. Both bootstrap .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
# Every install is constrained by the lock, so a new release of a dependency or a tool cannot
# change what runs until `make lock` refreshes it (and that change is reviewed).
LOCK := requirements/lock.txt
FLOORS_VENV := .venv-floors
# Measured 93.6% of src/ lines (5055 statements, with the CLI and the live servers the tests
# start counted through coverage's subprocess patch); the floor sits under it so timing-dependent
# paths cannot fail CI, and rises with the measurement.
COVERAGE_FLOOR ?= 92

.PHONY: help run test check lint format bench clean lock test-js test-floors

help:  ## list targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-11s %s\n", $$1, $$2}'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# The stamps depend on the lock too: a refreshed lock re-installs on the next run or test.
$(VENV)/.run-installed: pyproject.toml $(LOCK) | $(BIN)/python
	$(BIN)/python -m pip install --quiet --constraint $(LOCK) -e .
	touch $@

$(VENV)/.dev-installed: pyproject.toml $(LOCK) | $(BIN)/python
	$(BIN)/python -m pip install --quiet --constraint $(LOCK) -e '.[dev]'
	touch $@ $(VENV)/.run-installed

run: $(VENV)/.run-installed  ## serve API + web UI on http://127.0.0.1:8000 (SQLite + ./data)
	$(BIN)/pixvault serve --host $(HOST) --port $(PORT)

check: $(VENV)/.dev-installed  ## ruff format --check, ruff check, mypy --strict
	$(BIN)/ruff format --no-cache --check src tests bench requirements
	$(BIN)/ruff check --no-cache src tests bench requirements
	$(BIN)/mypy --strict src tests bench requirements

test: check  ## all checks, then the whole test suite (with coverage) and the JS unit tests
	$(BIN)/python -m pytest --cov=pixvault --cov-report=term:skip-covered \
		--cov-fail-under=$(COVERAGE_FLOOR)
	$(MAKE) --no-print-directory test-js

# node is optional on a developer machine; under CI a missing node must fail, not skip.
test-js:  ## node --test tests/js/ (the web app's modules)
	@if [ ! -d tests/js ]; then \
		echo "tests/js: no JavaScript tests"; \
	elif command -v node >/dev/null 2>&1; then \
		node --test tests/js/; \
	elif [ "$${CI:-}" = true ]; then \
		echo "node is missing: tests/js cannot run (CI=true)" >&2; exit 1; \
	else \
		echo "SKIPPED tests/js: node is not installed"; \
	fi

# The oldest versions pyproject.toml allows, in a venv of their own, built from scratch each
# time: first the package alone (no extras) must build the embedded container, then the core
# and API suites run on both stacks. The -W flags silence deprecations that only old Starlette
# releases raise under today's anyio and python-multipart; the main suite keeps them errors.
test-floors:  ## install the minimum versions (requirements/floors.py) and run core + API tests
	rm -rf $(FLOORS_VENV)
	$(PYTHON) -m venv $(FLOORS_VENV)
	$(PYTHON) requirements/floors.py > $(FLOORS_VENV)/floors.txt
	$(FLOORS_VENV)/bin/python -m pip install --quiet --constraint $(FLOORS_VENV)/floors.txt \
		setuptools
	$(FLOORS_VENV)/bin/python -m pip install --quiet --no-build-isolation \
		--constraint $(FLOORS_VENV)/floors.txt .
	cd $(FLOORS_VENV) && bin/python -I ../requirements/no_extras.py
	$(FLOORS_VENV)/bin/python -m pip install --quiet --no-build-isolation \
		--constraint $(FLOORS_VENV)/floors.txt -e '.[dev]'
	$(FLOORS_VENV)/bin/python -m pip list --format=freeze | grep -iE \
		'^(fastapi|starlette|pydantic|pydantic-settings|python-multipart|sqlalchemy|limits|pillow|boto3|psycopg|redis|pytest)=='
	$(FLOORS_VENV)/bin/python -m pytest -p no:cacheprovider tests/core tests/web \
		-W 'ignore:The anyio.abc.BlockingPortal alias is deprecated:DeprecationWarning' \
		-W 'ignore:Please use `import python_multipart` instead:PendingDeprecationWarning'

# --unsafe-package pixvault: the dev extra names pixvault[s3,postgres,redis], which pip-compile
# would otherwise pin as "pixvault @ file:///<this checkout>", a path no other clone has.
lock: $(VENV)/.dev-installed  ## refresh requirements/lock.txt to the newest releases allowed
	CUSTOM_COMPILE_COMMAND="make lock" $(BIN)/pip-compile --quiet --upgrade --all-extras \
		--strip-extras --no-emit-index-url --no-emit-find-links \
		--unsafe-package pixvault --unsafe-package pip --unsafe-package setuptools \
		--output-file $(LOCK) pyproject.toml

format: $(VENV)/.dev-installed  ## apply ruff formatting and safe fixes
	$(BIN)/ruff format src tests bench requirements
	$(BIN)/ruff check --fix src tests bench requirements

$(VENV)/.bench-installed: $(VENV)/.dev-installed
	$(BIN)/python -m pip install --quiet --constraint $(LOCK) -e '.[dev,bench]'
	touch $@

bench: $(VENV)/.bench-installed  ## run the benchmarks and print their tables (bench/README.md)
	$(BIN)/python -m bench

clean:  ## remove the virtualenvs and caches (keeps ./data)
	rm -rf $(VENV) $(FLOORS_VENV) .pytest_cache .mypy_cache .ruff_cache .coverage
