# `make test` sets up .venv (pip 24: pip 25+ refuses ESPnet's dependency tree)
# and runs the test suite.
VENV ?= .venv
PYTHON := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install test lint

$(STAMP): setup.cfg pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q "pip>=24,<25"
	$(VENV)/bin/pip install -q -e ".[test]"
	touch $@

install: $(STAMP)

test: install
	$(PYTHON) -m pytest -q

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
