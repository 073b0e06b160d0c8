# The virtual environment lives in .venv/ so that `.venv/bin/aws-monitor` is the installed command.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench bench-acks clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/aws-monitor demo

test: $(STAMP)
	$(BIN)/ruff check bot handlers services tests benchmarks
	$(BIN)/mypy services handlers
	$(BIN)/pytest

bench: $(STAMP)
	$(BIN)/python benchmarks/inventory.py

bench-acks: $(STAMP)
	$(BIN)/python benchmarks/acks.py

clean:
	rm -rf $(VENV) build *.egg-info
