# Two commands matter: `make demo` and `make test`. Everything else is a step they use.
SHELL := /bin/bash
PYTHON ?= python3
REQ_HASH := $(shell cat requirements.txt requirements-dev.txt | sha256sum | cut -c1-16)
VENV ?= $(HOME)/.cache/annotator-venvs/$(REQ_HASH)
PY := $(VENV)/bin/python
export PATH := $(VENV)/bin:$(PATH)

.PHONY: demo test test-fast venv frontend migrate lint bench soak clean e2e-deps

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements-dev.txt
	touch $@

venv: $(VENV)/.installed  ## the virtualenv, cached outside the clone, keyed by the requirements hash

frontend/node_modules/.installed: frontend/package.json frontend/package-lock.json
	cd frontend && npm ci --no-audit --no-fund
	touch $@

frontend: frontend/node_modules/.installed  ## build the browser UI into frontend/dist
	cd frontend && npm run build

migrate: venv
	mkdir -p var
	$(PY) manage.py migrate --noinput

demo: venv frontend migrate  ## run the demo: web + worker + beat on SQLite and a filesystem broker
	$(PY) manage.py demo

test: venv frontend  ## the whole suite: Python (SQLite, or Postgres/Redis via env), frontend units, browser e2e
	mkdir -p var
	cd frontend && npx vitest run
	$(PY) -m pytest tests --ignore=tests/bench --durations=25

test-fast: venv  ## the quick tier (under 2 min): no browser, no worker subprocess, no training
	mkdir -p var
	$(PY) -m pytest tests --ignore=tests/bench -m "not e2e and not worker and not slow" -q

lint: venv  ## ruff, the format, mypy, and the import contracts in pyproject.toml (the app stack, ml without Django, no cycles)
	$(VENV)/bin/ruff check annotator ml tests
	$(VENV)/bin/ruff format --check annotator ml tests
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports --no-cache

bench: venv frontend migrate  ## every benchmark; prints a table and writes var/bench.json
	$(PY) -m tests.bench.run

soak: venv  ## 20 simulated annotators for 10 minutes on PostgreSQL + Redis
	$(PY) -m tests.bench.soak

clean:
	rm -rf var frontend/dist
