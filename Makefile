# `make dev` runs the whole system locally; `make test` runs everything CI runs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell sha1sum pyproject.toml | cut -c1-12)

# Imports resolve as on Lambda: the layer (/opt/python) and the function code on the path.
export PYTHONPATH := $(CURDIR)/layers/common:$(CURDIR)/functions:$(CURDIR)

.PHONY: install dev test lint format typecheck cfn-lint requirements openapi pytest browser bench load clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $@

dev: install
	$(BIN)/python -m infra.local

test: install lint typecheck cfn-lint pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

typecheck: install
	$(BIN)/mypy layers/common/aiimage functions infra tests

cfn-lint: install
	$(BIN)/cfn-lint template.yaml

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

pytest: install browser
	$(BIN)/pytest

# Every benchmark, against baselines of the same run; regenerates docs/benchmarks.md.
bench: install
	$(BIN)/python -m bench --write

# A bounded load test of the local stack (loopback); its result goes to docs/reliability.md.
load: install
	$(BIN)/python -m bench.load --write

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache .aws-sam
