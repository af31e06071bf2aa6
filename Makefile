# marginbot: every task installs what it needs first, so a fresh clone needs only `make demo` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
BENCH_EVENTS ?= 10000000
BENCH_SYNC_DAYS ?= 9
BENCH_IMPORT_RUNS ?= 3
BENCH_HISTORY_DAYS ?= 360
# A PostgreSQL server for the bench's PostgreSQL stage (empty: the stage is skipped); it makes and drops a database
# marginbot_bench there.
BENCH_POSTGRES_URL ?=
PYTHON ?= python3

.PHONY: help install demo test lint format docs bench clean

help: ## list the tasks
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

# Every task refreshes the bytecode of our own modules: an editable install compiles none, and where
# PYTHONDONTWRITEBYTECODE is set Python would compile them again at every `marginbot` call (an eighth of its time).
install: $(VENV)/.installed ## create ./.venv and install marginbot with its dev tools
	@$(PY) -m compileall -q bot engine config

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[dev]'
	touch $@

demo: install ## build a demo SQLite database of generated data: the portfolio, its story, where to look next
	$(VENV)/bin/marginbot demo

test: install ## run the test suite (SQLite; PostgreSQL too when MARGINBOT_TEST_POSTGRES_URL is set)
	$(VENV)/bin/pytest -q

lint: install ## ruff (format check + lint) and mypy
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy bot engine config bench

format: install ## apply ruff's formatting and safe fixes
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

docs: install ## regenerate docs/commands.md, the settings and /margin tables in docs/ and the manifest usage hint
	$(PY) -m bot.cli.reference --write

bench: install ## benchmark against sqlite3, DuckDB and psycopg COPY baselines (BENCH_EVENTS, BENCH_IMPORT_RUNS, BENCH_HISTORY_DAYS, BENCH_POSTGRES_URL)
	BENCH_POSTGRES_URL="$(BENCH_POSTGRES_URL)" $(PY) -m bench.run --events $(BENCH_EVENTS) --sync-days $(BENCH_SYNC_DAYS) \
		--import-runs $(BENCH_IMPORT_RUNS) --history-days $(BENCH_HISTORY_DAYS)

clean: ## remove the virtualenv, demo files and caches
	rm -rf $(VENV) marginbot-demo.db* demo-data .pytest_cache .mypy_cache .ruff_cache bench/.work
