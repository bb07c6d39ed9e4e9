# forcefields: one virtual environment in .venv, everything runs from it.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
# torch first, pinned to the release the CPU machines carry; torch-cluster then
# builds against it (no wheel exists for every torch, so pip compiles it once,
# about 10 minutes on 2 cores, and reuses the cached wheel afterwards).
TORCH_SPEC ?= torch==2.13.0

.PHONY: install demo test bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip setuptools wheel
	$(PIP) install -q "$(TORCH_SPEC)"
	$(PIP) install -q --no-build-isolation "torch-cluster>=1.6"
	$(PIP) install -q -e ".[dev,labels]"
	touch $@

demo: install
	$(PY) -m forcefields.demo

# pytest's exit code 5 means "no tests collected": not a failure of the code.
test: install
	$(PY) -m pytest -q --timeout 600 tests; rc=$$?; if [ $$rc -eq 5 ]; then exit 0; fi; exit $$rc

bench: install
	$(VENV)/bin/forcefields bench speed --config benchmarks/configs/cpu.json

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
