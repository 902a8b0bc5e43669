# The two commands: `make run` and `make test`. Each installs what is missing first.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PORT ?= 8080

.PHONY: run test install lint typecheck pytest clean

run: install
	@PORT=$(PORT) $(VENV)/bin/topicdesk demo

test: install lint typecheck pytest

install: $(STAMP)

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; Topicdesk needs Python 3.11" >&2; exit 1; }
	@command -v java >/dev/null || { echo "error: java not found; local Kafka needs Java 17+" >&2; exit 1; }
	@command -v mvn >/dev/null || { echo "error: mvn not found; local Kafka is assembled from Maven Central with Maven" >&2; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

lint:
	$(VENV)/bin/ruff check platform tests bench

typecheck:
	$(VENV)/bin/mypy

pytest:
	$(VENV)/bin/pytest

clean:
	-$(VENV)/bin/topicdesk local down
	rm -rf $(VENV) .topicdesk
