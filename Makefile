# aimux: `make run` serves the local gateway, `make test` runs every check CI runs.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
LOCK := requirements.lock
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run test lint typecheck bench install install-dev node-tools browser-tools clean sam-tools sam-check \
	bench-cold-start test-lambda-python lambda-python-suite lock sam-local-prepare docker-down smoke

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Every install takes its versions from requirements.lock (pip -c): this venv, the Lambda-Python venv
# (.venv-lambda) and the layer build (layers/aimux_core/Makefile) get the same packages, and
# tests/infra/test_lock.py fails when one drifts. `make run` installs the aws extra (boto3): `aimux
# keys` against a table, SSM keys and Bedrock need it.
$(VENV)/.installed-run: pyproject.toml $(LOCK) | $(BIN)/python
	$(BIN)/python -m pip install -q -c $(LOCK) -e '.[aws]'
	touch $@

$(VENV)/.installed-dev: pyproject.toml $(LOCK) | $(BIN)/python
	$(BIN)/python -m pip install -q -c $(LOCK) -e '.[dev]'
	touch $@ $(VENV)/.installed-run

# Updates the pins: requirements.lock from pyproject.toml (every extra, every Python the project
# supports) and the SAM tools' infra/requirements-sam.txt and -ric.txt from their .in files (where
# aws-sam-cli, cfn-lint and awslambdaric are pinned). Existing pins are kept unless UPGRADE=1.
UV_COMPILE = $(BIN)/uv pip compile --quiet --universal --python-version 3.11 \
	--custom-compile-command 'make lock' $(if $(UPGRADE),--upgrade)
lock: install-dev
	$(UV_COMPILE) --all-extras -o $(LOCK) pyproject.toml
	$(UV_COMPILE) -o infra/requirements-sam.txt infra/requirements-sam.in
	$(UV_COMPILE) -o infra/requirements-ric.txt infra/requirements-ric.in

# Node tools the tests drive (the real Claude Code CLI). A failed install is reported, and the tests
# that need the tool are then skipped with that reason; everything else still runs.
tests/e2e/node_modules/.installed: tests/e2e/package.json
	cd tests/e2e && (npm install --no-audit --no-fund --no-package-lock --loglevel=error \
		&& touch node_modules/.installed) || echo "warning: npm could not install tests/e2e tools"

node-tools: tests/e2e/node_modules/.installed

# Debian's chromium for the browser tests (tests/browser/: Playwright drives this system browser, no
# browser download), installed when missing (root). If it cannot be, the browser tests fail in
# `make test` (AIMUX_REQUIRE_BROWSER=1) and name the reason; a plain pytest run skips them.
BROWSER := /usr/bin/chromium
browser-tools:
	@command -v $(BROWSER) >/dev/null || { [ "$$(id -u)" = 0 ] && echo "browser-tools: apt-get install chromium" \
		&& apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
		--no-install-recommends chromium >/dev/null; } || echo "warning: could not install chromium (root and apt needed)"

install: $(VENV)/.installed-run
install-dev: $(VENV)/.installed-dev

run: install
	$(BIN)/aimux serve

lint: install-dev sam-tools
	$(BIN)/ruff check .
	$(SAM_VENV)/bin/cfn-lint infra/template.yaml

# mypy --strict on the layer ([tool.mypy] in pyproject.toml: the boto3 and PyYAML stubs come with the dev extra).
typecheck: install-dev
	$(BIN)/mypy

# The suite, and alongside it the suite on Lambda's Python (test-lambda-python; its output is kept in
# $(LAMBDA_LOG) and printed once both are done). Both passes wait on sockets, subprocesses and timeouts
# more than they compute (one after the other, a clean-clone CI run used ~13 min of CPU in ~20 min), so
# on two cores together they take little more than the longer one (the two passes: 15.5 -> 9.5 min).
# Docker is stopped again (if this run started it) when the first pass, the one that uses it, ends;
# either pass failing fails the target.
LAMBDA_LOG := build/lambda-python-pass.log
# Through a variable: a recipe line that names $(MAKE) itself is run even by `make -n`, and this one runs pytest.
SECOND_PASS = $(MAKE) --no-print-directory test-lambda-python
test: lint typecheck node-tools browser-tools sam-check sam-local-prepare
	@mkdir -p $(dir $(LAMBDA_LOG)); $(SECOND_PASS) >$(LAMBDA_LOG) 2>&1 & second=$$!; \
		status=0; $(SAM_TEST_ENV) $(BIN)/python -m pytest -q -p no:cacheprovider || status=$$?; \
		infra/docker_daemon.sh down $(DOCKER_STATE); \
		wait $$second || status=$$?; echo "--- the pass on Lambda's Python ($(LAMBDA_LOG)):"; cat $(LAMBDA_LOG); exit $$status

bench: install-dev
	$(BIN)/python bench/bench_gateway.py

# ---------------------------------------------------------------- serverless deployment checks
# Everything AWS would reject or break on, checked without an AWS account or Docker: sam validate
# --lint; the SAM transform run offline and its CloudFormation linted (cfn-lint alone does not
# expand SAM resources); sam build for the template's runtime and CPU, and checks on the artifacts;
# the same build for the other CPU (x86_64/arm64) into build/sam/<cpu>, checked the same way. The
# SAM tools live in their own venv (aws-sam-cli pins its own boto3/pydantic), at the versions
# infra/requirements-sam.txt pins (the one place for aws-sam-cli and cfn-lint). The Runtime Interface
# Client goes to .venv-sam/ric/cp3XX for the test interpreter and the Lambda runtime's version.
SAM_VENV ?= .venv-sam
SAM := $(SAM_VENV)/bin/sam
SAM_BUILD_DIR := .aws-sam/build
export SAM_CLI_TELEMETRY := 0
LAMBDA_PY_VERSION = $(shell $(PYTHON) infra/lambda_python.py --version)
LAMBDA_PYTHON = $(shell $(PYTHON) infra/lambda_python.py)
RIC_PLATFORMS := --platform manylinux2014_x86_64 --platform manylinux_2_28_x86_64
TEMPLATE_ARCH = $(shell sed -n 's/^ *Architecture: *\([a-z0-9_]*\).*/\1/p' infra/template.yaml | head -n 1)
OTHER_ARCH = $(if $(filter arm64,$(TEMPLATE_ARCH)),x86_64,arm64)
OTHER_BUILD := build/sam/other-arch
# What the runtime-API tests, the artifact tests and bench/cold_start.py need to find; with
# AIMUX_REQUIRE_SAM=1 a missing piece fails those tests instead of skipping them.
SAM_TEST_ENV = AIMUX_REQUIRE_SAM=1 AIMUX_SAM_VENV=$(SAM_VENV) AIMUX_LAMBDA_PYTHON=$(LAMBDA_PYTHON) \
	AIMUX_REQUIRE_BROWSER=1

$(SAM_VENV)/.installed: infra/requirements-sam.txt infra/requirements-ric.txt | $(BIN)/python
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install -q -r infra/requirements-sam.txt
	for version in $$($(BIN)/python -c 'import sys; print("%d.%d" % sys.version_info[:2])') $(LAMBDA_PY_VERSION); do \
		$(SAM_VENV)/bin/python -m pip install -q --no-compile --upgrade --only-binary=:all: --implementation cp \
			--python-version $$version $(RIC_PLATFORMS) --target $(SAM_VENV)/ric/cp$$(echo $$version | tr -d .) \
			-r infra/requirements-ric.txt || exit 1; \
	done
	touch $@

sam-tools: $(SAM_VENV)/.installed

sam-check: sam-tools
	$(SAM) validate --lint --template-file infra/template.yaml
	$(SAM_VENV)/bin/python infra/sam_transform.py infra/template.yaml build/sam/cfn.json
	$(SAM_VENV)/bin/cfn-lint --ignore-checks W1020 -- build/sam/cfn.json
	@if [ -z "$(LAMBDA_PYTHON)" ]; then \
		echo "sam-check: SKIPPED sam build - no python$(LAMBDA_PY_VERSION) found (PATH, pyenv); the layer's wheels and .pyc need the runtime's exact version"; \
	else \
		echo "sam-check: sam build with $(LAMBDA_PYTHON)"; \
		PATH="$(dir $(LAMBDA_PYTHON)):$$PATH" $(SAM) build --template-file infra/template.yaml && \
		$(BIN)/python infra/check_build.py $(SAM_BUILD_DIR) && \
		echo "sam-check: the same build for $(OTHER_ARCH)" && \
		$(BIN)/python infra/template_variant.py $(OTHER_ARCH) $(OTHER_BUILD)/template.yaml && \
		PATH="$(dir $(LAMBDA_PYTHON)):$$PATH" TEMPLATE=$(CURDIR)/$(OTHER_BUILD)/template.yaml \
			$(SAM) build --template-file $(OTHER_BUILD)/template.yaml --build-dir $(OTHER_BUILD)/build && \
		$(BIN)/python infra/check_build.py $(OTHER_BUILD)/build; \
	fi

# `sam local start-api` on the built template, as tests/functions/test_sam_local.py runs it: a Docker
# engine (installed and started here if missing; stopped after the suite by `make test`) and the
# Lambda Python base image, built locally because no image registry is reachable in CI
# (infra/lambda_image.py; cached). A failure here does not stop `make test`: the test then fails
# and shows this step's log.
DOCKER_STATE := build/docker
sam-local-prepare: sam-check
	@mkdir -p $(DOCKER_STATE)
	@{ infra/docker_daemon.sh up $(DOCKER_STATE) && $(BIN)/python infra/lambda_image.py; } 2>&1 \
		| tee $(DOCKER_STATE)/prepare.log; \
		[ "$${PIPESTATUS[0]}" = 0 ] || echo "sam-local-prepare: FAILED (see $(DOCKER_STATE)/prepare.log)"

docker-down:
	@infra/docker_daemon.sh down $(DOCKER_STATE)

# The whole suite again on the Lambda runtime's Python (the deployed code runs there; .venv may be an
# older or newer CPython). Skipped, saying so, when that version is .venv's own or cannot be found.
LAMBDA_VENV ?= .venv-lambda

$(LAMBDA_VENV)/.installed-dev: pyproject.toml $(LOCK)
	$(LAMBDA_PYTHON) -m venv $(LAMBDA_VENV)
	$(LAMBDA_VENV)/bin/python -m pip install -q -c $(LOCK) -e '.[dev]'
	touch $@

test-lambda-python: install-dev node-tools browser-tools
	@if [ -z "$(LAMBDA_PYTHON)" ]; then \
		echo "test-lambda-python: SKIPPED - no python$(LAMBDA_PY_VERSION) found (PATH, pyenv)"; \
	elif [ "$$($(BIN)/python -c 'import sys; print("%d.%d" % sys.version_info[:2])')" = "$(LAMBDA_PY_VERSION)" ]; then \
		echo "test-lambda-python: SKIPPED - .venv already runs python$(LAMBDA_PY_VERSION)"; \
	else \
		echo "test-lambda-python: the suite on $(LAMBDA_PYTHON)"; \
		$(MAKE) --no-print-directory lambda-python-suite; \
	fi

# The same checks as the first pass (SAM_TEST_ENV), but what does not run on the test interpreter: sam
# local (its container runs its own python3.13), tests/infra (the template and the `sam build` output,
# built for python3.13 in either pass) and tests/browser (the dashboard's JavaScript in chromium). A
# recipe of its own so that `make -n test` shows this command instead of running it.
lambda-python-suite: $(LAMBDA_VENV)/.installed-dev
	$(SAM_TEST_ENV) AIMUX_SAM_LOCAL=first-pass $(LAMBDA_VENV)/bin/python -m pytest -q -p no:cacheprovider \
		--ignore=tests/infra --ignore=tests/browser

# After `sam deploy`: drive the deployment with both official SDKs (infra/smoke.py). URL is the
# StreamFunctionUrl output, API the HttpApiUrl output (either or both), KEY a gateway key.
smoke: install-dev
	$(BIN)/python infra/smoke.py $(if $(URL),--url '$(URL)') $(if $(API),--api '$(API)') --key '$(KEY)' $(SMOKE_ARGS)

# Cold init of each function as Lambda does it (built artifacts, python -B, Runtime Interface Emulator).
bench-cold-start: sam-check
	$(SAM_TEST_ENV) $(BIN)/python bench/cold_start.py

clean:
	rm -rf $(VENV) $(SAM_VENV) $(LAMBDA_VENV) .pytest_cache .ruff_cache .hypothesis build .aws-sam tests/e2e/node_modules
