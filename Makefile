# The two commands: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: demo test lint bench bench-quick install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.test-installed: pyproject.toml $(VENV)/.installed
	$(BIN)/pip install -q -e '.[test]'
	touch $@

install: $(VENV)/.installed

demo: $(VENV)/.installed
	$(BIN)/zhongtai demo --host $(HOST) --port $(PORT)

lint: $(VENV)/.test-installed
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

test: lint
	$(BIN)/pytest $(PYTEST_ARGS)

bench: $(VENV)/.installed
	$(BIN)/zhongtai bench foundation
	$(BIN)/zhongtai bench catalog
	$(BIN)/zhongtai bench inventory
	$(BIN)/zhongtai bench orders
	$(BIN)/zhongtai bench promotions
	$(BIN)/zhongtai bench data

bench-quick: $(VENV)/.installed
	$(BIN)/zhongtai bench foundation --quick
	$(BIN)/zhongtai bench catalog --quick
	$(BIN)/zhongtai bench inventory --quick
	$(BIN)/zhongtai bench orders --quick
	$(BIN)/zhongtai bench promotions --quick
	$(BIN)/zhongtai bench data --quick

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache .hypothesis
