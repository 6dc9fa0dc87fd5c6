# Two commands for a new user: `make dev` runs the service with demo data, `make test`
# runs the tests. Both create the virtual environment on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: dev test lint openapi bench-ratings bench-ingest bench-watch bench-scorecards clean

$(BIN)/commune-pulse: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Commune Pulse needs Python >= 3.11 (found " + sys.version.split()[0] + "); set PYTHON=python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@

dev: $(BIN)/commune-pulse
	$(BIN)/commune-pulse dev

test: $(BIN)/commune-pulse
	$(BIN)/pytest

lint: $(BIN)/commune-pulse
	$(BIN)/ruff format --check backend schemas tests bench
	$(BIN)/ruff check backend schemas tests bench
	$(BIN)/mypy

openapi: $(BIN)/commune-pulse
	$(BIN)/commune-pulse openapi

bench-ratings: $(BIN)/commune-pulse
	$(BIN)/python -m bench.ratings

bench-ingest: $(BIN)/commune-pulse
	$(BIN)/python -m bench.ingest

bench-watch: $(BIN)/commune-pulse
	$(BIN)/python -m bench.watch

bench-scorecards: $(BIN)/commune-pulse
	$(BIN)/python -m bench.scorecards

clean:
	rm -rf $(VENV) var
