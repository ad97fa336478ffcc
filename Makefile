# Two commands on a fresh machine: `make run` and `make test`. Everything else builds on `install`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install migrate load run test test-postgres lint package bench eval clean

install: $(STAMP)

# Reinstall only when the dependency list changes, so repeated runs are quick (idempotent).
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

migrate: install
	$(PY) -m bot migrate

load: migrate
	$(PY) -m bot kb import knowledge/
	$(PY) -m bot admin import --if-empty knowledge/registry/demo.yaml

run: load
	$(PY) -m bot serve

test: lint
	$(PY) -m pytest

test-postgres: lint
	REQUIRE_POSTGRES=1 $(PY) -m pytest

lint: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy
	$(VENV)/bin/lint-imports

# The knowledge search on the dev set (tests/data/ask_dev.yaml): hit@1, hit@3, MRR, out-of-scope.
eval: install
	$(PY) -m bench.eval

# Latency benchmarks; writes bench/results.json and prints a Markdown table.
bench: install
	$(PY) -m bench.run

package: install
	$(PY) manifest/build.py

clean:
	rm -rf $(VENV) manifest/build .pytest_cache .mypy_cache .ruff_cache
