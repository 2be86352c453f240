# Two commands matter: `make serve` and `make test` (see README). Both build .venv first.
# `make check` (types and lint) runs in CI before the tests.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

.PHONY: install serve demo test check bench
install: $(STAMP)

serve: $(STAMP)
	$(BIN)/kipthoi demo
	$(BIN)/kipthoi serve

# One pytest worker per core (pytest-xdist): each worker has its own databases (a SQLite file
# per test, a PostgreSQL schema per worker), so the suite runs in about half the time.
test: $(STAMP)
	$(BIN)/python -m pytest -n auto --durations=10 $(PYTEST_ARGS)

# mypy --strict over the source packages (files and settings in pyproject.toml), then ruff over
# the whole tree, tests included.
check: $(STAMP)
	$(BIN)/mypy
	$(BIN)/ruff check .

bench: $(STAMP)
	$(BIN)/python bench/intake.py
