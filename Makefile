# The two commands: `make run` and `make test`. Each installs what is missing first.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PORT ?= 8080
FRONTEND_SOURCES := $(shell find frontend/src frontend/index.html frontend/vite.config.ts frontend/tsconfig.json frontend/public -type f 2>/dev/null)

.PHONY: run test install system-deps frontend lint typecheck frontend-test pytest clean

run: install frontend
	@PORT=$(PORT) $(VENV)/bin/topicdesk demo

test: install system-deps frontend lint typecheck frontend-test pytest

install: $(STAMP)

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; Topicdesk needs Python 3.11" >&2; exit 1; }
	@command -v java >/dev/null || { echo "error: java not found; local Kafka needs Java 17+" >&2; exit 1; }
	@command -v mvn >/dev/null || { echo "error: mvn not found; local Kafka is assembled from Maven Central with Maven" >&2; exit 1; }
	@command -v npm >/dev/null || { echo "error: npm not found; the portal is built with Node.js 20+" >&2; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

# PostgreSQL (database tests), Chromium (portal tests) and Prometheus (promtool and the metrics
# test) from Debian's packages, when missing.
system-deps:
	@missing=""; \
	ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || missing="$$missing postgresql"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v promtool >/dev/null || missing="$$missing prometheus"; \
	if [ -n "$$missing" ]; then \
	  echo "installing$$missing from Debian's packages"; \
	  if [ "$$(id -u)" != 0 ]; then echo "error: need root (or sudo apt-get install$$missing)" >&2; exit 1; fi; \
	  DEBIAN_FRONTEND=noninteractive apt-get update -q && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing && \
	  { service postgresql stop >/dev/null 2>&1 || true; \
	    service prometheus stop >/dev/null 2>&1 || true; \
	    service prometheus-node-exporter stop >/dev/null 2>&1 || true; \
	    systemctl disable prometheus prometheus-node-exporter >/dev/null 2>&1 || true; }; \
	fi

frontend: frontend/dist/index.html

frontend/node_modules/.package-lock.json: frontend/package.json frontend/package-lock.json
	cd frontend && npm ci --no-audit --no-fund --loglevel=error

frontend/dist/index.html: frontend/node_modules/.package-lock.json $(FRONTEND_SOURCES)
	cd frontend && npm run build

lint:
	$(VENV)/bin/ruff check platform tests bench

typecheck:
	$(VENV)/bin/mypy
	cd frontend && npm run typecheck

frontend-test: frontend/node_modules/.package-lock.json
	cd frontend && npm test

pytest:
	$(VENV)/bin/pytest

clean:
	-$(VENV)/bin/topicdesk local down
	rm -rf $(VENV) .topicdesk frontend/node_modules frontend/dist
