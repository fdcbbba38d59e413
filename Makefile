# Two commands do all the set-up: `make run` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip --disable-pip-version-check -q

.PHONY: run test test-e2e test-web web web-api screenshots bench bench-intents load eval fmt migrate clean lock chaos

$(BIN)/python:
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "loopdesk needs Python >= 3.11"'
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip

# Re-installs only when the project metadata or the pins change.
$(VENV)/.installed: pyproject.toml constraints.txt | $(BIN)/python
	$(PIP) install -c constraints.txt -e '.[redis]'
	@touch $@

$(VENV)/.installed-dev: $(VENV)/.installed
	$(PIP) install -c constraints.txt -e '.[dev,redis]'
	@touch $@

# A third-party MCP server for the tests, in a venv of its own (it needs mcp 2.x; we pin mcp 1.x).
MCP_TIME := $(VENV)/mcp-time
$(MCP_TIME)/.installed: | $(BIN)/python
	$(PYTHON) -m venv $(MCP_TIME)
	$(MCP_TIME)/bin/python -m pip --disable-pip-version-check -q install mcp-server-time==2026.10.19
	@touch $@

run: $(VENV)/.installed ## start the service on http://127.0.0.1:8000 (embedded PostgreSQL)
	$(BIN)/loopdesk serve --config langgraph.json

migrate: $(VENV)/.installed
	$(BIN)/loopdesk migrate

test: $(VENV)/.installed-dev $(MCP_TIME)/.installed ## lint, then the whole suite (real PostgreSQL) on two workers, about 9 minutes on 2 cores
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	bash deploy/prometheus/check-deps.sh
	bash deploy/check-deps.sh
	$(BIN)/python -m pytest -m "not e2e and not web" -n 2 --durations=20

test-e2e: $(VENV)/.installed-dev $(MCP_TIME)/.installed ## the slow end-to-end suites (process restarts, scale-out) and the deep API fuzz
	$(BIN)/python -m pytest -m e2e
	LOOPDESK_FUZZ_EXAMPLES=30 $(BIN)/python -m pytest tests/api/test_fuzz.py

# The console (web/): Node only to build and test it; its build is committed, so `make run` needs none.
WEB_INSTALLED := web/node_modules/.installed
$(WEB_INSTALLED): web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund
	@touch $@

web: $(WEB_INSTALLED) ## rebuild the console into src/loopdesk/console/static (commit the result)
	cd web && npm run build

web-api: $(VENV)/.installed $(WEB_INSTALLED) ## regenerate the console's API and WebSocket frame types from the server's OpenAPI document and protocol schema
	$(BIN)/python -m loopdesk.console.apidoc web/openapi.json
	cd web && npm run gen:api
	$(BIN)/python -m loopdesk.console.apidoc --realtime web/realtime.schema.json --frames web/src/chat/frames.d.ts

test-web: $(VENV)/.installed-dev $(WEB_INSTALLED) ## the console: vitest, then end to end in Chromium against a real server
	bash web/e2e/browser-deps.sh
	cd web && npm test
	$(BIN)/python -m pytest -m web -p no:xdist tests/console

screenshots: $(VENV)/.installed-dev $(WEB_INSTALLED) ## regenerate docs/screenshots (the README's) from the console's browser test
	bash web/e2e/browser-deps.sh
	SCREENSHOTS=$(CURDIR)/docs/screenshots $(BIN)/python -m pytest -m web -p no:xdist tests/console

bench: $(VENV)/.installed-dev ## benchmarks (not part of make test)
	$(BIN)/python benchmarks/bench_api.py
	$(BIN)/python benchmarks/runtime.py
	$(BIN)/python benchmarks/realtime.py
	$(BIN)/python benchmarks/sessions.py
	$(BIN)/python benchmarks/feedback.py

chaos: $(VENV)/.installed-dev ## worker SIGKILLs, API / PostgreSQL / Redis restarts mid-run, then what was lost or repeated (KILLS=10: short)
	$(BIN)/python benchmarks/chaos.py --kills $(or $(KILLS),100)

load: $(VENV)/.installed-dev ## mixed traffic against 2 API processes + 2 workers + PostgreSQL + Redis for 10 minutes (SECONDS=60: shorter); benchmarks/results/load.json
	$(BIN)/python benchmarks/load.py --seconds $(or $(SECONDS),600)

bench-intents: $(VENV)/.installed-dev ## the intent model on CLINC150 (git clone https://github.com/clinc/oos-eval; DATA=its data_full.json)
	nice -n 10 $(BIN)/python benchmarks/intents.py $(if $(DATA),--data $(DATA))

eval: $(VENV)/.installed-dev ## the support task suite per scenario, with the model of LOOPDESK_LLM_* (offline when unset; TRIALS=3)
	$(BIN)/python benchmarks/support_tasks.py --trials $(or $(TRIALS),1)

fmt: $(VENV)/.installed-dev
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix src tests benchmarks

# Pins come from the package index only: a wheel installed from a file or URL is pinned by its version,
# so constraints.txt installs on a machine that never saw this one (.ci/check-constraints refuses it otherwise).
lock: $(VENV)/.installed-dev ## refresh constraints.txt from the current environment
	$(BIN)/python -m pip list --format=freeze --exclude-editable --exclude pip --exclude setuptools --exclude wheel > constraints.txt.new
	bash .ci/check-constraints constraints.txt.new
	mv constraints.txt.new constraints.txt

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info src/*.egg-info
