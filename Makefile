# airflow-azure-compute developer workflow. `make test` and `make demo` work on a fresh clone:
# they create .venv, install the package with its dev and emulator extras, and install Azurite
# from the committed package-lock.json. A second run skips what is already installed (stamp files).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMPS := .stamps
PYTEST_ARGS ?=
# The suite waits on emulated services far more than it computes: two workers, one test module each
# at a time (module fixtures such as the real-Airflow stack stay in one process).
PYTEST_PARALLEL ?= -n 2 --dist loadfile

.PHONY: install test unit integration e2e lint demo bench docs airflow clean

$(STAMPS)/venv: pyproject.toml
	@mkdir -p $(STAMPS)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e ".[dev,emulator]"
	@touch $@

$(STAMPS)/npm: package.json package-lock.json
	@mkdir -p $(STAMPS)
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

install: $(STAMPS)/venv $(STAMPS)/npm

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/python scripts/check_imports.py

test: lint docs
	$(BIN)/pytest -q -p no:cacheprovider $(PYTEST_PARALLEL) $(PYTEST_ARGS) tests

unit: install
	$(BIN)/pytest -q -p no:cacheprovider $(PYTEST_ARGS) tests/unit

integration: install
	$(BIN)/pytest -q -p no:cacheprovider $(PYTEST_ARGS) tests/integration

e2e: install
	$(BIN)/pytest -q -p no:cacheprovider $(PYTEST_ARGS) tests/e2e

bench: install
	@set -e; for script in benchmarks/*.py; do echo "== $$script"; $(BIN)/python $$script; done

docs: install
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

demo: install
	$(BIN)/python scripts/demo.py

airflow: install
	$(BIN)/python scripts/airflow_ui.py

clean:
	rm -rf $(STAMPS) site build dist *.egg-info
