# Latch: `make run` to try it, `make test` to test it. Everything else is below.
SHELL := /bin/bash
VENV  := .venv
PY    := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint check-deploy bench install clean

$(STAMP): requirements/base.txt requirements/dev.txt
	@PYTHON="$$(scripts/find-python)" || exit 1; \
	  test -x $(PY) || "$$PYTHON" -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements/dev.txt
	@touch $(STAMP)

install: $(STAMP)

## run: serve Latch on http://localhost:8000 with SQLite and demo data (development settings)
run: export DJANGO_DEBUG = 1
run: export LATCH_DEV_KEYS = 1
run: $(STAMP)
	$(PY) manage.py migrate --verbosity 0
	$(PY) manage.py load_demo
	$(PY) manage.py runserver 127.0.0.1:8000

## test: the whole suite; PostgreSQL when DATABASE_URL is set, else SQLite (with a warning)
test: $(STAMP)
	@if [ -z "$$DATABASE_URL" ]; then \
	  echo "WARNING: DATABASE_URL is not set: testing on SQLite; concurrency tests are skipped." >&2; \
	  echo "         Production runs PostgreSQL: DATABASE_URL=postgres://postgres@127.0.0.1:5432/latch make test" >&2; \
	fi
	@scripts/install-browser || echo "WARNING: no chromium: the browser tests (tests/browser) will not run." >&2
	$(PY) -m pytest $(PYTEST_ARGS)

## lint: ruff (lint and format check) and mypy
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	LATCH_DEV_KEYS=1 LATCH_ISSUER=https://latch.example.org $(VENV)/bin/mypy apps config bench examples

## check-deploy: Django's deployment checklist with production settings
check-deploy: $(STAMP)
	DJANGO_DEBUG=0 LATCH_DEV_KEYS=1 DJANGO_ALLOWED_HOSTS=latch.example.org LATCH_ISSUER=https://latch.example.org \
	  $(PY) manage.py check --deploy

## bench: Latch under gunicorn and wrk on PostgreSQL, one table (QUICK=1: smoke run; SCALE=10M: 10M tokens)
bench: $(STAMP)
	$(PY) -m bench $(if $(filter-out 0,$(QUICK)),--quick) $(if $(SCALE),--scale $(SCALE))

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
