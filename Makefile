# `make test` sets up .venv (pip 24: pip 25+ refuses ESPnet's dependency tree) with
# the exact versions of constraints.txt and runs the test suite; `make test-fast` skips the
# tests marked slow (ESPnet's entry points end to end); `make lint` runs ruff.
VENV ?= .venv
PYTHON := $(VENV)/bin/python
STAMP := $(VENV)/.installed

# What the GPU check (scripts/gpu_check.sh) needs beyond torch, for Python 3.12 on x86-64
# (and the plugin's own wheel, built from this tree)
GPU_WHEELS := espnet==202511 typeguard==4.6.0 humanfriendly==10.0
WHEELS ?= .whl

.PHONY: install test test-fast lint gpu-wheels

$(STAMP): setup.cfg pyproject.toml constraints.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q "pip>=24,<25"
	$(VENV)/bin/pip install -q -c constraints.txt -e ".[recipe,onnx,corpus,reference,whisper,test]"
	touch $@

install: $(STAMP)

test: install
	$(PYTHON) -m pytest -q

test-fast: install
	$(PYTHON) -m pytest -q -m "not slow"

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/vermin -q --violations --no-tips --eval-annotations -t=3.10- espnet_reuse tests

gpu-wheels: install
	$(VENV)/bin/pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
		--implementation cp --platform manylinux2014_x86_64 -d $(WHEELS) $(GPU_WHEELS)
	rm -f $(WHEELS)/espnet_reuse-*.whl
	$(VENV)/bin/pip wheel -q --no-deps -w $(WHEELS) .
