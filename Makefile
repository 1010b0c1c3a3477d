# The two commands of the README: `make demo` and `make test`. Both build .venv on first use.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
export DAGSTER_HOME := $(CURDIR)/.dagster_home
# The UI's port: `make demo PORT=3001` when 3000 is taken.
PORT ?= 3000

.PHONY: demo test install bench

# The exact versions every install gets are in uv.lock (`uv lock` after editing the dependencies;
# --locked refuses a lock that no longer matches pyproject.toml). uv itself, pinned, comes from
# PyPI into the venv; --inexact keeps it there.
UV_VERSION := 0.13.9

$(BIN)/.installed: pyproject.toml uv.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet "uv==$(UV_VERSION)"
	$(BIN)/uv sync --quiet --locked --inexact --extra all --extra dev
	touch $@

install: $(BIN)/.installed

test: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python -m pytest

demo: install
	$(BIN)/rowcount-monitor demo --port $(PORT)

bench: install
	$(BIN)/python benchmarks/detection_speed.py
