# Latch: `make run` to try it, `make test` to test it. Everything else is below.
SHELL := /bin/bash
VENV  := .venv
PY    := $(VENV)/bin/python
# What running Latch needs (requirements/base.txt), and the test and lint tools on top (dev.txt).
RUNTIME := $(VENV)/.installed-base
TOOLS   := $(VENV)/.installed-dev

.PHONY: run setup test lint check-deploy bench install clean

$(RUNTIME): requirements/base.txt
	@PYTHON="$$(scripts/find-python)" || exit 1; \
	  test -x $(PY) || "$$PYTHON" -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements/base.txt
	@touch $(RUNTIME)

$(TOOLS): $(RUNTIME) requirements/dev.txt
	$(PY) -m pip install --quiet -r requirements/dev.txt
	@touch $(TOOLS)

install: $(TOOLS)

# Development settings for every manage.py command in this checkout (git-ignored; see the script).
.env:
	@scripts/dev-env $@

## setup: what `make run` does before serving: runtime packages, .env, the database, the demo data
setup: $(RUNTIME) .env
	$(PY) manage.py migrate --verbosity 0
	$(PY) manage.py load_demo

## run: serve Latch on http://localhost:8000 and the example app on http://127.0.0.1:9000 (SQLite, demo data)
run: setup
	$(PY) scripts/serve_demo.py

## test: the whole suite; PostgreSQL when DATABASE_URL is set, else SQLite (with a warning)
test: $(TOOLS)
	@if [ -z "$$DATABASE_URL" ]; then \
	  echo "WARNING: DATABASE_URL is not set: testing on SQLite; concurrency tests are skipped." >&2; \
	  echo "         Production runs PostgreSQL: DATABASE_URL=postgres://postgres@127.0.0.1:5432/latch make test" >&2; \
	fi
	@scripts/install-browser || echo "WARNING: no chromium: the browser tests (tests/browser) will not run." >&2
	$(PY) -m pytest $(PYTEST_ARGS)

## lint: ruff (lint and format check) and mypy
lint: $(TOOLS)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	LATCH_DOTENV= LATCH_DEV_KEYS=1 LATCH_ISSUER=https://latch.example.org $(VENV)/bin/mypy apps config bench examples

## check-deploy: Django's deployment checklist with production settings
check-deploy: $(RUNTIME)
	LATCH_DOTENV= DJANGO_DEBUG=0 LATCH_DEV_KEYS=1 DJANGO_ALLOWED_HOSTS=latch.example.org LATCH_ISSUER=https://latch.example.org \
	  $(PY) manage.py check --deploy

## bench: Latch and stock DOT under gunicorn and wrk on PostgreSQL, one table (QUICK=1: smoke; SCALE=10M)
bench: $(TOOLS)
	$(PY) -m bench $(if $(filter-out 0,$(QUICK)),--quick) $(if $(SCALE),--scale $(SCALE))

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
