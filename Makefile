# Quiz Reports: `make run` starts everything on this machine, `make test` runs the suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-requirements

.PHONY: run test lint audit format venv bench clean

# The runtime set and the tests and lint (requirements-dev.txt includes requirements.txt).
$(STAMP): requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is needed"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

venv: $(STAMP)

run: venv
	$(BIN)/python -m webapp.devrun

# The suite on SQLite + SqliteHuey and, at the same time, on PostgreSQL + RedisHuey
# (tests/run_suites.py); QUIZ_REPORTS_TEST_BACKEND=sqlite or pg-redis runs one.
test: venv
	$(BIN)/python -m tests.run_suites $(PYTEST_ARGS)

# ruff, and the import contract of pyproject.toml ([tool.importlinter]): the parts and
# the rules between them (README.md, "Architecture").
lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-logo --no-cache

# Known vulnerabilities of the pinned runtime set (requirements.lock): pip-audit, and PyPI's
# project pages where its per-version answers are not to be had (.ci/audit.py says how).
audit: venv
	$(BIN)/python .ci/audit.py requirements.lock

format: venv
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# A whole run as deployed, timed; e.g. make bench BENCH_ARGS="--backend pg-redis --consumers 2".
# Figures go to the terminal and, as JSON, to instance/bench.json.
BENCH_ARGS ?=
bench: venv
	mkdir -p instance
	$(BIN)/python -m bench.bench_run --json instance/bench.json $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
