# Plaza: `make run` starts the town's bot on SQLite; `make test` runs the whole suite.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PORT   ?= 8000
HOST   ?= 127.0.0.1

.PHONY: run test lint typecheck audit check chat validate bench clean

$(BIN)/plaza: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(BIN)/plaza

## run: create the environment, migrate the SQLite database, start the server (web chat at /chat)
run: $(BIN)/plaza
	$(BIN)/plaza db upgrade
	$(BIN)/plaza flows validate
	$(BIN)/plaza serve --host $(HOST) --port $(PORT)

## test: create the environment and run lint, types and the whole test suite
test: $(BIN)/plaza lint typecheck audit
	$(BIN)/plaza flows validate
	$(BIN)/plaza flows test
	$(BIN)/python -m pytest

lint: $(BIN)/plaza
	$(BIN)/ruff check bot adapters models tests

typecheck: $(BIN)/plaza
	$(BIN)/mypy

## audit: known-vulnerable dependencies (pip-audit); says NOT AUDITED when no vulnerability data can be had
audit: $(BIN)/plaza
	$(BIN)/python .ci/audit.py

## chat: talk to the bot in this terminal
chat: $(BIN)/plaza
	$(BIN)/plaza db upgrade
	$(BIN)/plaza chat

validate: $(BIN)/plaza
	$(BIN)/plaza flows validate
	$(BIN)/plaza flows test

## bench: every benchmark (engine, peer, broadcast, memory, blackout); reports in var/bench/
bench: $(BIN)/plaza
	$(BIN)/plaza bench engine
	$(BIN)/plaza bench peer
	$(BIN)/plaza bench broadcast
	$(BIN)/plaza bench memory
	$(BIN)/plaza bench blackout

clean:
	rm -rf $(VENV) var build *.egg-info
