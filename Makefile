# `make test` sets up .venv (pip 24: pip 25+ refuses ESPnet's dependency tree) with
# the exact versions of constraints.txt and runs the test suite; `make lint` runs ruff.
VENV ?= .venv
PYTHON := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install test lint

$(STAMP): setup.cfg pyproject.toml constraints.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q "pip>=24,<25"
	$(VENV)/bin/pip install -q -c constraints.txt -e ".[test]"
	touch $@

install: $(STAMP)

test: install
	$(PYTHON) -m pytest -q

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
