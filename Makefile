# `make dev` runs the whole system locally; `make test` runs everything CI runs.

# Python 3.12, as on Lambda: on the PATH, else pyenv's newest 3.12, else python3 (which
# `make install` refuses when it is older). `make PYTHON=...` chooses another.
ifndef PYTHON
PYTHON := $(shell python3.12 -c 'import sys; print(sys.executable)' 2>/dev/null \
	|| PYENV_VERSION="$$(pyenv versions --bare 2>/dev/null | grep -E '^3\.12(\.[0-9]+)?$$' | sort -V | tail -n 1)" \
	pyenv which python3.12 2>/dev/null || command -v python3)
endif
PYTHON_VERSION := $(shell $(PYTHON) -c 'import platform; print(platform.python_version())')
VENV   := .venv
BIN    := $(VENV)/bin
# The venv is rebuilt when the interpreter changes, reinstalled when pyproject.toml or the
# layer's lock does: the tests run on the locked runtime versions the layer ships.
LOCK   := layers/common/requirements.lock
STAMP  := $(VENV)/.installed-$(PYTHON_VERSION)-$(shell cat pyproject.toml $(LOCK) | sha1sum | cut -c1-12)

# Imports resolve as on Lambda: the layer (/opt/python) and the function code on the path.
export PYTHONPATH := $(CURDIR)/layers/common:$(CURDIR)/functions:$(CURDIR)

# The AWS SAM CLI, pinned, in a venv of its own: its pinned dependencies would fight the
# project's. `make build` and the artifact test (tests/artifact) run it.
SAM_VERSION := 1.170.0
SAM_VENV    := .venv-sam
SAM         := $(SAM_VENV)/bin/sam
SAM_STAMP   := $(SAM_VENV)/.installed-$(PYTHON_VERSION)-$(SAM_VERSION)

# checkov, pinned, in its own venv too (its pins conflict with the dev tools'); `make
# checkov` scans template.yaml: zero failed checks, every exception inline with a reason.
CHECKOV_VERSION := 3.3.30
CHECKOV_VENV    := .venv-checkov
CHECKOV_STAMP   := $(CHECKOV_VENV)/.installed-$(PYTHON_VERSION)-$(CHECKOV_VERSION)

.PHONY: install sam build checkov dev test unit lint format typecheck cfn-lint requirements openapi pytest browser bench load clean

install: $(STAMP)

$(STAMP): pyproject.toml $(LOCK)
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 12))' || { \
	  echo "$(PYTHON) is Python $(PYTHON_VERSION); the project needs 3.12 (as on Lambda):" \
	    "install it (pyenv install 3.12) or run make PYTHON=/path/to/python3.12"; exit 1; }
	@if [ -x $(BIN)/python ] && [ "$$($(BIN)/python -c 'import platform; print(platform.python_version())')" != "$(PYTHON_VERSION)" ]; then \
	  echo "$(VENV) was built with another Python: rebuilding it with $(PYTHON) ($(PYTHON_VERSION))"; \
	  rm -rf $(VENV); fi
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r $(LOCK)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $@

sam: $(SAM_STAMP)

$(SAM_STAMP): | $(STAMP)
	rm -rf $(SAM_VENV)
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(SAM_VENV)/bin/python -m pip install --quiet aws-sam-cli==$(SAM_VERSION)
	touch $@

# The Lambda artifacts in .aws-sam/build: arm64, python3.12, no container; bytecode included.
build: install sam
	$(BIN)/python -m infra.build

dev: install
	$(BIN)/python -m infra.local

test: install sam lint typecheck cfn-lint checkov pytest

# The fast suite: unit tests only (no server, no subprocess).
unit: install
	$(BIN)/pytest tests/unit

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

typecheck: install
	$(BIN)/mypy layers/common/aiimage functions infra tests bench

cfn-lint: install sam
	$(BIN)/cfn-lint template.yaml
	SAM_CLI_TELEMETRY=0 $(SAM) validate --lint

$(CHECKOV_STAMP):
	rm -rf $(CHECKOV_VENV)
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/python -m pip install --quiet checkov==$(CHECKOV_VERSION)
	touch $@

checkov: $(CHECKOV_STAMP)
	$(CHECKOV_VENV)/bin/checkov --file template.yaml --framework cloudformation --skip-download --quiet --compact

requirements: install
	$(BIN)/python -m infra.requirements --write

openapi: install
	$(BIN)/python -m infra.openapi --write

# The browser tests (tests/e2e) use Debian's Chromium: installed when missing and root;
# otherwise they skip, and pytest -ra prints why.
browser:
	@command -v chromium >/dev/null 2>&1 || test -x /usr/bin/chromium || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get install -y --no-install-recommends chromium \
	      || { apt-get update && apt-get install -y --no-install-recommends chromium; } \
	      || echo "chromium could not be installed: the browser tests will skip"; \
	  else echo "chromium is missing and this is not root: the browser tests will skip"; fi; }

# The whole suite with a coverage report (no gate); the total goes in the README.
pytest: install browser
	$(BIN)/pytest --cov --cov-report=term:skip-covered

# Every benchmark, against baselines of the same run; regenerates docs/benchmarks.md. The
# cold-start benchmark builds the artifact (the pinned SAM CLI).
bench: install sam
	$(BIN)/python -m bench --write

# A bounded load test of the local stack (loopback); its result goes to docs/reliability.md.
load: install
	$(BIN)/python -m bench.load --write

clean:
	rm -rf $(VENV) $(SAM_VENV) $(CHECKOV_VENV) .mypy_cache .pytest_cache .ruff_cache .aws-sam .coverage
