# aimux: `make run` serves the local gateway, `make test` runs every check CI runs.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run test lint bench install install-dev node-tools clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed-run: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@ $(VENV)/.installed-run

# Node tools the tests drive (the real Claude Code CLI). A failed install is reported, and the tests
# that need the tool are then skipped with that reason; everything else still runs.
tests/e2e/node_modules/.installed: tests/e2e/package.json
	cd tests/e2e && (npm install --no-audit --no-fund --no-package-lock --loglevel=error \
		&& touch node_modules/.installed) || echo "warning: npm could not install tests/e2e tools"

node-tools: tests/e2e/node_modules/.installed

install: $(VENV)/.installed-run
install-dev: $(VENV)/.installed-dev

run: install
	$(BIN)/aimux serve

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/cfn-lint infra/template.yaml

test: lint node-tools
	$(BIN)/python -m pytest -q -p no:cacheprovider

bench: install-dev
	$(BIN)/python bench/bench_gateway.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis build .aws-sam tests/e2e/node_modules
