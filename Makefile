# The verbs a user types. `make build` and `make test` set everything up themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: build check stats test lint clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,lint]'
	touch $(STAMP)

build: $(STAMP)
	$(BIN)/build-deck build

check: $(STAMP)
	$(BIN)/build-deck check

stats: $(STAMP)
	$(BIN)/build-deck stats

test: $(STAMP)
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check build_deck tests
	$(BIN)/ruff format --check build_deck tests
	$(BIN)/mypy

clean:
	rm -rf $(VENV) dist build .cache .pytest_cache .mypy_cache .ruff_cache *.egg-info
