# The two commands a newcomer needs: `make serve` and `make test`. Both build .venv on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# -qq: pip's own errors still show, its notes and the build backend's do not (a first `make serve`
# printed ~200 lines of them, #19)
PIP_FLAGS ?= -qq --disable-pip-version-check

.PHONY: serve test lint typecheck unit browser i18n bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install $(PIP_FLAGS) --upgrade pip

$(VENV)/.app: pyproject.toml | $(BIN)/python
	$(BIN)/pip install $(PIP_FLAGS) -e .
	touch $@

$(VENV)/.test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install $(PIP_FLAGS) -e ".[test]"
	touch $@ $(VENV)/.app

AXE := node_modules/axe-core/axe.min.js
BIOME := node_modules/.bin/biome
# From the npm registry: the accessibility checker the browser tests inject, and the JavaScript
# linter. In one command, since `npm install --no-save` removes what it was not asked for.
NPM_TOOLS := axe-core@4.14.1 @biomejs/biome@2.6.9

$(AXE) $(BIOME) &:
	npm install --no-save --no-audit --no-fund --silent $(NPM_TOOLS)

serve: $(VENV)/.app  ## start the server on http://127.0.0.1:8000 with ./openspace.db and the demo event
	$(BIN)/openspace serve

test: $(VENV)/.test $(AXE) lint typecheck  ## the whole suite: lint, types, unit, HTTP, websocket, live server, browser
	$(BIN)/coverage erase
	$(BIN)/coverage run -m pytest
	$(BIN)/coverage combine -q  # the job pool's worker processes wrote their own data files
	$(BIN)/coverage report  # fails under the floor in pyproject.toml

lint: $(VENV)/.test $(BIOME)  ## ruff over the Python, biome over the JavaScript in static/ (biome.json)
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/ruff format --check src tests bench scripts
	$(BIN)/lint-imports  # the architecture contract in pyproject.toml
	$(BIOME) lint --error-on-warnings static/js

typecheck: $(VENV)/.test
	$(BIN)/mypy

unit: $(VENV)/.test  ## everything but the browser tests
	$(BIN)/pytest -m "not browser"

browser: $(VENV)/.test
	$(BIN)/pytest -m browser

i18n: $(VENV)/.test  ## extract strings, merge catalogs, list Swedish still to translate
	$(BIN)/python scripts/update_catalogs.py

bench: $(VENV)/.test  ## benchmarks; never part of `make test`
	$(BIN)/python -m bench
	$(BIN)/python -m bench.cowrite
	$(BIN)/python -m bench.storms

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info .pytest_cache .mypy_cache .ruff_cache screenshots
