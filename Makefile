# tethys_compute: the two commands of the README, and the rest of CI.
#   make demo   run the example project on SQLite and a local Dask cluster
#   make test   run the whole test suite (DB=postgres for the PostgreSQL pass)
#   make dist   build the wheel and sdist into dist/ and check them with twine
PYTHON ?= python3
VENV   ?= .venv
DB     ?= sqlite
PYTEST_ARGS ?=
DIST   ?= dist
BIN     = $(VENV)/bin

.PHONY: demo smoke test test-postgres docs lint typecheck dist venv system-deps clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

venv: $(BIN)/.installed

system-deps:
	.ci/system-deps

demo: venv
	$(BIN)/python example/demo.py

smoke: venv
	$(BIN)/python example/demo.py --smoke --dir .demo-smoke

docs: venv
	$(BIN)/python -m sphinx -W --keep-going -q -b html docs docs/_build/html

test: venv system-deps
	DJANGO_SETTINGS_MODULE=tests.settings $(BIN)/python -m django check --fail-level WARNING
ifeq ($(DB),postgres)
	.ci/with-postgres $(BIN)/python -m pytest $(PYTEST_ARGS)
else
	$(BIN)/python -m pytest $(PYTEST_ARGS)
endif

test-postgres:
	$(MAKE) test DB=postgres

# The wheel and sdist, built in an isolated environment (python -m build), then checked.
dist: venv
	rm -rf $(DIST)
	$(BIN)/python -m build --outdir $(DIST) .
	$(BIN)/twine check --strict $(DIST)/*

lint: venv
	$(BIN)/ruff check tethys_compute tests benchmarks example
	DJANGO_SETTINGS_MODULE=tests.settings $(BIN)/python -m django makemigrations --check --dry-run

typecheck: venv
	$(BIN)/python -m mypy

clean:
	rm -rf $(VENV) .pytest_cache docs/_build .demo .demo-smoke dist build
