# Two commands set everything up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 8000

.PHONY: help venv run test test-embedded lint fmt check fuzz-api bench bench-summary bench-redelivery bench-front bench-pg bench-round-trip clean

help:
	@echo "make run    - install, migrate, seed the sandbox, serve on 127.0.0.1:$(PORT) with Celery workers and beat"
	@echo "make test   - the whole suite against PostgreSQL and Redis"
	@echo "make test-embedded - the embedded default of make run (SQLite, a filesystem broker, no servers), smoke-tested as .ci/run does"
	@echo "make lint   - ruff and mypy";  echo "make fmt    - ruff format and fix"
	@echo "make check  - lint + test"
	@echo "make fuzz-api - schemathesis against a server on 127.0.0.1:8790 from the OpenAPI schema (FUZZ_ARGS=\"-n 100 --max-time 900\")"
	@echo "make bench  - the wallet benchmark (BENCH_ARGS=\"--players 10000 --duration 15\"); see docs/performance.md"
	@echo "make bench-summary - the issue's five targets judged over the kept results (BENCH_ARGS=\"--since 2026-12-05\")"
	@echo "make bench-front - CPU per debit in the platform's own code, without a web server"
	@echo "make bench-pg - instructions per debit in PostgreSQL, counted under callgrind"
	@echo "make bench-round-trip - CPU of one statement's round trip to PostgreSQL, TCP against its Unix socket"
	@echo "make bench-redelivery - 10,000 credits queued while a partner is down: time until all are delivered"
	@echo "make clean  - remove var/ and the tools' caches"

$(BIN)/.installed: requirements.txt requirements-dev.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	@touch $@

venv: $(BIN)/.installed

run: venv
	@PORT=$(PORT) BIN=$(BIN) bash bin/run

test: venv
	BIN=$(BIN) bash bin/ensure-services $(BIN)/pytest $(PYTEST_ARGS)

test-embedded: venv
	@BIN=$(BIN) bash bin/smoke-embedded

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	SECRET_KEY=lint $(BIN)/mypy .

fmt: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

check: lint test

fuzz-api: venv
	BIN=$(BIN) bash bin/ensure-services bash bin/fuzz-api

bench: venv
	@BIN=$(BIN) bash bin/ensure-services
	@command -v wrk >/dev/null || { echo "make bench needs wrk: apt-get install wrk"; exit 1; }
	$(BIN)/python bench/run.py $(BENCH_ARGS)

bench-summary: venv
	$(BIN)/python bench/targets.py $(BENCH_ARGS)

bench-front: venv
	@BIN=$(BIN) bash bin/ensure-services
	$(BIN)/python bench/front_cpu.py $(BENCH_ARGS)

bench-pg: venv
	@BIN=$(BIN) bash bin/ensure-services
	$(BIN)/python bench/pg_instructions.py $(BENCH_ARGS)

bench-round-trip: venv
	@BIN=$(BIN) bash bin/ensure-services
	$(BIN)/python bench/round_trip.py $(BENCH_ARGS)

bench-redelivery: venv
	@BIN=$(BIN) bash bin/ensure-services
	$(BIN)/python bench/redelivery.py $(BENCH_ARGS)

clean:
	rm -rf var .pytest_cache .mypy_cache .ruff_cache
