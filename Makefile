# Two commands on a fresh machine: `make run` and `make test`. Everything else builds on `install`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install migrate load run test test-postgres lint package bench eval clean webchat test-browser test-heavy

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

# The try-out page at http://127.0.0.1:3978/ needs Web Chat from npm; without npm (or when the
# install fails) the bot still runs and the page says how to get it.
run: load
	@if command -v npm >/dev/null 2>&1; then \
	  $(MAKE) --no-print-directory webchat || echo "Web Chat could not be installed; the bot runs without it (make webchat)."; \
	else \
	  echo "npm not found: the browser page at http://127.0.0.1:3978/ needs Web Chat (install Node.js with npm, then make webchat)."; \
	fi
	$(PY) -m bot serve

# Bot Framework Web Chat (and playwright-core for the browser test) from the npm registry, as
# pinned in web/package-lock.json, into the ignored web/node_modules; no install scripts run.
WEB_STAMP := web/node_modules/.installed

webchat: $(WEB_STAMP)

$(WEB_STAMP): web/package.json web/package-lock.json
	@command -v npm >/dev/null 2>&1 || { echo "npm not found: install Node.js (20 or newer) with npm first."; exit 1; }
	cd web && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	touch $(WEB_STAMP)

# The page in headless Chromium (Debian's chromium package; skipped with the reason when missing).
test-browser: install webchat
	$(PY) -m pytest tests/e2e/test_browser.py -rs

test: lint
	$(PY) -m pytest

# The heavy variants of the robustness tests (full fan-out load on two replicas, …); CI runs them.
test-heavy: install
	$(PY) -m pytest -m heavy -rs

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
	rm -rf $(VENV) manifest/build .pytest_cache .mypy_cache .ruff_cache web/node_modules
