# aimux: `make run` serves the local gateway, `make test` runs every check CI runs.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run test lint bench install install-dev clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed-run: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@ $(VENV)/.installed-run

install: $(VENV)/.installed-run
install-dev: $(VENV)/.installed-dev

run: install
	$(BIN)/aimux serve

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/cfn-lint infra/template.yaml

test: lint
	$(BIN)/python -m pytest -q -p no:cacheprovider

bench: install-dev
	$(BIN)/python bench/bench_gateway.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis build .aws-sam
