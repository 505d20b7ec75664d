# Kopilka developer commands. `make demo` and `make test` work from a fresh clone.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
# two stamps: running Kopilka needs only its own dependencies (RUNTIME); the test and
# development tools (mypy, ruff, playwright, schemathesis, ...) come with the dev extra (STAMP)
RUNTIME := $(VENV)/.runtime
STAMP := $(VENV)/.installed

.PHONY: demo test lint types unit bench serve clean compile uncompile messages screenshots

$(RUNTIME): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e .
	touch $(RUNTIME)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(RUNTIME) $(STAMP)

## demo: install what running needs, create the SQLite demo program with data, and serve it
## on http://127.0.0.1:8000 (another port: make demo PORT=8001)
demo: $(RUNTIME)
	$(BIN)/kopilka demo --serve $(if $(PORT),--port $(PORT))

## serve: run the API/UI against KOPILKA_DATABASE_URL (default: SQLite under ./data)
serve: $(RUNTIME)
	$(BIN)/kopilka db upgrade
	$(BIN)/kopilka serve

## test: lint, types, and the whole suite on SQLite and PostgreSQL
test: $(STAMP) lint types
	$(BIN)/pytest -n 2 --dist loadgroup -q --durations=30

lint: $(STAMP)
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/ruff format --check src tests bench scripts
	$(BIN)/lint-imports --no-cache

types: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest -q tests/unit

## messages: bring the web UI's catalogs (src/kopilka/locale/*/LC_MESSAGES/kopilka.po) up to
## the strings the templates and the web code mark, and list the Russian ones to translate
messages: $(RUNTIME)
	$(BIN)/python -m kopilka.web.catalogs

## bench: run the benchmarks and write bench/results/*.json
bench: $(STAMP)
	$(BIN)/python -m bench.run_all

## screenshots: build the demo on a scratch SQLite file, serve it on 127.0.0.1 and render the
## main pages with /usr/bin/chromium into docs/screenshots/*.png (scripts/screenshots.py)
screenshots: $(STAMP)
	$(BIN)/python -m scripts.screenshots

## compile: build the optional compiled (mypyc) rules kernel in place, next to its sources
## (setup.py; needs the dev extra's mypy and setuptools>=77); uncompile removes it
compile: $(STAMP)
	$(BIN)/python -m pip install -q 'setuptools==84.2.1'
	KOPILKA_COMPILE=1 $(BIN)/python setup.py -q build_ext --inplace

uncompile:
	rm -rf build src/kopilka_kernel__mypyc*.so src/kopilka/domain/rules/*.so src/kopilka/domain/rules/compiled.json

clean: uncompile
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
