# TradeForge: the whole set-up is `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

COMPILED := .venv-compiled
COMPILED_STAMP := $(COMPILED)/.installed
WHEELS := build/wheels

.PHONY: run test test-compiled bench lint format clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstall whenever pyproject.toml changes.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

run: $(STAMP)  ## start the service in paper mode on the embedded default (SQLite in ./var)
	$(BIN)/tradeforge run

test: $(STAMP)  ## the whole suite: unit, integration (SQLite, PostgreSQL), end to end
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The mypyc-compiled build (ADR 7): a wheel built with the dev environment's mypy, installed with its
# dependencies into its own environment. Rebuilt whenever a source file changes.
$(COMPILED_STAMP): pyproject.toml setup.py $(shell find src -name '*.py') | $(STAMP)
	test -x $(COMPILED)/bin/python || $(PYTHON) -m venv $(COMPILED)
	rm -rf build  # a stale build/lib would put modules no longer listed into the wheel
	TRADEFORGE_COMPILE=1 $(BIN)/python -m pip wheel --quiet --no-build-isolation --no-deps -w $(WHEELS) .
	$(COMPILED)/bin/python -m pip install --quiet --upgrade pip
	$(COMPILED)/bin/python -m pip install --quiet --force-reinstall --no-deps $(WHEELS)/tradeforge-*.whl
	$(COMPILED)/bin/python -m pip install --quiet "$$(ls $(WHEELS)/tradeforge-*.whl)[dev]"
	touch $(COMPILED_STAMP)

test-compiled: $(COMPILED_STAMP)  ## the suite against the mypyc-compiled build
	$(COMPILED)/bin/python -m pytest $(PYTEST_ARGS)

bench: $(COMPILED_STAMP)  ## benchmarks on the compiled build (the pure-Python figures are printed beside)
	TRADEFORGE_PURE_PYTHON=$(BIN)/python $(COMPILED)/bin/python -m benchmarks

lint: $(STAMP)  ## ruff and mypy, both must be clean
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix src tests benchmarks

clean:
	rm -rf $(VENV) $(COMPILED) build var .pytest_cache .mypy_cache .ruff_cache
