# SafetyNet — set-up, demo and tests. `make demo` and `make test` are all a new machine needs.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SN := $(BIN)/safetynet
export SAFETYNET_DATA_DIR ?= $(CURDIR)/var
DEMO_HOUSEHOLDS ?= 20000
DEMO_SEED ?= 20261129
PG_URL ?= postgres://postgres@127.0.0.1:5432/safetynet
PYTEST := $(BIN)/pytest

.PHONY: install venv assets messages demo demo-data serve test test-sqlite test-postgres \
        test-spark test-browser lint bench services chromium clean

install: venv assets messages

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

assets: node_modules/.installed
	npm run --silent build

messages: venv
	@command -v msgfmt >/dev/null || (apt-get update -qq && apt-get install -y -qq gettext >/dev/null)
	cd src/safetynet && ../../$(BIN)/django-admin compilemessages --ignore=.venv -v 0 \
	    --settings=safetynet.config.settings --pythonpath=..

demo: install demo-data serve

demo-data:
	$(SN) init --quiet
	$(SN) demo setup --households $(DEMO_HOUSEHOLDS) --seed $(DEMO_SEED)

serve:
	$(SN) serve --addr 127.0.0.1:8000

services:
	@bash .ci/services

chromium:
	@command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null)

# The whole suite: SQLite, PostgreSQL, Spark and the browser, each its own step.
test: install services chromium test-sqlite test-postgres test-spark test-browser

test-sqlite: venv
	$(PYTEST) -q -m "not spark and not browser"

test-postgres: venv
	DATABASE_URL=$(PG_URL) $(PYTEST) -q -m "not spark and not browser"

test-spark: venv
	SPARK_LOCAL_IP=127.0.0.1 $(PYTEST) -q -m spark

test-browser: venv chromium
	DJANGO_ALLOW_ASYNC_UNSAFE=true $(PYTEST) -q -m browser

lint: venv
	$(BIN)/ruff check src tests bench

bench: venv
	$(BIN)/python bench/registry.py

# Regenerate the GB/T 2260 code tables (src/safetynet/core/data/) from their pinned source packages.
.PHONY: gbt2260
gbt2260: venv
	$(BIN)/python -m safetynet.core.gbt2260_build --download

clean:
	rm -rf var node_modules src/safetynet/web/static/vendor
