# oscsim: two entry points on a fresh Debian machine.
#   make demo   system packages + .venv + package, then the main job on the embedded digits14 data
#   make test   the same set-up, then the test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.oscsim-installed
TORCH  ?= torch==2.13.0

.PHONY: setup system-deps demo test lint bench clean

system-deps:
	@bash scripts/install-system-deps.sh

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet "$(TORCH)"
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

setup: system-deps $(STAMP)

demo: setup
	$(BIN)/oscsim demo --out demo-output --force

test: setup
	$(BIN)/python -m pytest

lint: setup
	$(BIN)/ruff format --check oscsim tests benchmarks scripts
	$(BIN)/ruff check oscsim tests benchmarks scripts

clean:
	rm -rf $(VENV) demo-output .pytest_cache *.egg-info
