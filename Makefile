# The two commands of the README: `make run` and `make test`. Everything else is what they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
HOST ?= 127.0.0.1
PORT ?= 8000
# The suite's PostgreSQL leg; skipped where no server answers here.
CASEWISE_TEST_POSTGRES_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test
export CASEWISE_TEST_POSTGRES_URL

.PHONY: setup run test test-sample test-all bench lint clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

run: setup
	$(BIN)/casewise db upgrade
	$(BIN)/casewise demo seed --if-empty
	$(BIN)/casewise rules import rulesets/ --note "imported by make run"
	$(BIN)/casewise train --case-type motor_claim --if-no-model --max-cases 2000 --no-refit
	$(BIN)/casewise demo key
	@echo "Casewise on http://$(HOST):$(PORT)  (API docs: http://$(HOST):$(PORT)/docs)"
	$(BIN)/casewise serve --host $(HOST) --port $(PORT)

test: setup
	OMP_NUM_THREADS=1 $(BIN)/pytest

# CI's bounded sample of the marked long runs: the acceptance evaluations on the shared event logs,
# 50 clients x 200 decisions against PostgreSQL (skipped where none answers), and impact simulations of
# 24 mutated rulesets against cases evaluated one by one.
test-sample: setup
	OMP_NUM_THREADS=1 $(BIN)/pytest -m slow tests/training/test_shared_logs.py tests/api/test_decisions_concurrency.py \
		tests/rules/test_simulation.py

# The full suite including the marked long soak and differential runs.
test-all: setup
	$(BIN)/pytest -m "slow or not slow"

# Benchmarks print figures and ratios; they are not tests.
bench: setup
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python -m bench.rules_engine
	$(BIN)/python -m bench.suggestion
	$(BIN)/python -m bench.simulation

lint: setup
	$(BIN)/ruff check app training tests bench

clean:
	rm -rf $(VENV) var .pytest_cache .hypothesis
