# Every target CI runs is here; .ci/run calls them verbatim.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
TS_APP := tests/compat/ts_app

.PHONY: install dev test lint format typecheck ci bench screenshots

install: $(VENV)/.installed $(TS_APP)/node_modules/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[server,postgres,otel,dev]'
	touch $@

$(TS_APP)/node_modules/.installed: $(TS_APP)/package.json $(TS_APP)/package-lock.json
	cd $(TS_APP) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

# Run Surge on SQLite (.surge/dev.db) with the example app synced: http://127.0.0.1:8288
dev: install
	$(BIN)/python examples/run.py

test: install
	$(BIN)/pytest

# Regenerate docs/screenshots/*.png from a real surge dev with the example app (needs Chromium)
screenshots: install
	$(BIN)/python scripts/screenshots.py

lint: install
	$(BIN)/ruff check src tests bench examples scripts
	$(BIN)/ruff format --check src tests bench examples scripts

format: install
	$(BIN)/ruff format src tests bench examples scripts
	$(BIN)/ruff check --fix src tests bench examples scripts

typecheck: install
	$(BIN)/mypy

ci: lint typecheck test
