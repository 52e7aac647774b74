# `make run` and `make test` work on a fresh machine with only Python >= 3.11: both create
# .venv when it is missing and install the project into it first. `make run` (and `setup`)
# installs the runtime dependencies only; `test`, `lint`, `bench` (and `setup-dev`) add the
# dev tools. Each set has its stamp, redone when pyproject.toml changes.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-run
DEV_STAMP := $(VENV)/.installed-dev
PORT ?= 8000
REDIS_URL ?= redis://127.0.0.1:6379/0
export REDIS_URL

.PHONY: setup run test lint bench clean

# The venv, and no GPU build of xgboost where pyproject.toml asks for xgboost-cpu (Linux,
# Windows): both install the same `xgboost` module, and an old venv's GPU build (with its
# 469 MB nvidia-nccl-cu12) must go first, or removing it later would delete the module.
define make-venv
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python >= 3.11 is required (set PYTHON=/path/to/python3.11)")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	@if $(BIN)/python -c 'import sys; sys.exit(sys.platform not in ("linux", "win32"))' \
		&& $(BIN)/python -m pip show --quiet xgboost >/dev/null 2>&1; then \
		echo "removing the GPU build of xgboost (xgboost-cpu replaces it)"; \
		$(BIN)/python -m pip uninstall --quiet -y xgboost xgboost-cpu nvidia-nccl-cu12; \
	fi
endef

$(STAMP): pyproject.toml
	$(make-venv)
	$(BIN)/python -m pip install --quiet -e .
	@touch $(STAMP)

$(DEV_STAMP): pyproject.toml
	$(make-venv)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(DEV_STAMP) $(STAMP)

.PHONY: setup-dev
setup: $(STAMP)

setup-dev: $(DEV_STAMP)

# `make run AGENT=1` also starts the reference ARTF agent (agents/reference) on
# 127.0.0.1:$(AGENT_PORT) and names it in RTB_AGENTS_FILE (docs/agents.md); off by default.
AGENT ?= 0
AGENT_PORT := 50061

run: setup  ## start the exchange on $(PORT) with the demo campaigns and in-memory counters
	@if [ "$(AGENT)" = "1" ]; then \
		$(BIN)/python -m agents.reference --listen 127.0.0.1:$(AGENT_PORT) \
			--rules agents/reference/demo_rules.json & agent=$$!; \
		trap 'kill $$agent 2>/dev/null' EXIT INT TERM; \
		RTB_AGENTS_FILE=agents/reference/demo_agents.json $(BIN)/rtb serve --port $(PORT); \
	else \
		$(BIN)/rtb serve --port $(PORT); \
	fi

test: setup-dev  ## the whole suite; Redis at $(REDIS_URL) or a throwaway redis-server
	$(BIN)/python -m pytest

lint: setup-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# The checked-in agents/protos/*_pb2*.py(i) from the .proto files (tests/agents checks they match)
.PHONY: protos
protos: setup-dev
	$(BIN)/python -m agents.protos.generate

bench: setup-dev
	$(BIN)/python -m bench

# Load tests (locust, the `load` extra, installed on first use): `make load` drives an exchange
# already running on $(PORT) (`make run`); `make load-check` starts its own and fails on errors.
.PHONY: load load-check
LOAD_STAMP := $(VENV)/.installed-load
LOAD_USERS ?= 20
LOAD_SPAWN_RATE ?= 10
LOAD_DURATION ?= 60s

$(LOAD_STAMP): pyproject.toml | setup
	$(BIN)/python -m pip install --quiet -e '.[load]'
	@touch $(LOAD_STAMP)

load: $(LOAD_STAMP)  ## locust headless against http://127.0.0.1:$(PORT), summary at the end
	$(BIN)/locust -f bench/locustfile.py --headless --only-summary -H http://127.0.0.1:$(PORT) \
		-u $(LOAD_USERS) -r $(LOAD_SPAWN_RATE) -t $(LOAD_DURATION)

load-check: $(LOAD_STAMP)  ## rtb serve on a free port, 20 s of locust; fails on any failure or 5xx
	$(BIN)/python -m bench.load_check

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
