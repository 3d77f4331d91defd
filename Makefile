# LeadLoop: `make run` starts everything locally, `make test` runs every test.
#
# Python packages come from uv.lock through `uv sync --frozen`: every machine gets the versions
# the lock names, or the install fails (run `make lock` after changing a pyproject.toml).
# `make run` installs only what running needs; `make test`, `make lint` and `make docs` add their
# dependency groups (pyproject.toml, [dependency-groups]).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# uv itself, from PyPI, into a folder of its own when it is not given (UV=/path/to/uv).
UV_VERSION := 0.13.9
TOOLS  := .tools
UV     ?= $(TOOLS)/bin/uv
LOCK_INPUTS := pyproject.toml uv.lock shared/pyproject.toml deploy/local/pyproject.toml \
               $(foreach s,capture scoring handoff nurture outcomes,services/$(s)/pyproject.toml)
RUNTIME := $(VENV)/.runtime
DEV     := $(VENV)/.dev

export UV_PROJECT_ENVIRONMENT := $(VENV)
export UV_PYTHON := $(PYTHON)
# uv must use this machine's Python, never download one.
export UV_PYTHON_DOWNLOADS := never

.PHONY: install install-runtime run demo test test-unit chaos lint lock lock-check contracts \
        docs clean bench soak prerequisites go-tools

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install -q uv==$(UV_VERSION)

# What running needs: the five services, the shared package and the local stack (editable).
# --inexact keeps the test and lint tools if `make install` put them there.
$(RUNTIME): $(LOCK_INPUTS) | $(UV)
	@command -v java >/dev/null || { echo "Java 17+ is needed for the local Kafka broker: apt-get install openjdk-17-jre-headless"; exit 1; }
	@command -v mvn >/dev/null || { echo "Maven is needed to fetch the Kafka broker's jars: apt-get install maven"; exit 1; }
	$(UV) sync --frozen --inexact --no-default-groups
	touch $@

# Everything: the runtime plus the test, lint and docs groups.
$(DEV): $(LOCK_INPUTS) | $(UV)
	$(UV) sync --frozen --all-groups
	touch $@ $(RUNTIME)

install-runtime: $(RUNTIME)
install: $(DEV)

run: install-runtime
	@echo "The command line: .venv/bin/leadloop --help (or \`$(UV) run leadloop\`, or source .venv/bin/activate)."
	@echo "In another terminal: make demo (a few minutes of leads, reps and deals; the dashboard shows them)."
	$(BIN)/python -m leadloop_devstack run

# A short demo on the running stack (started here when it is not up): 1,000 leads in 5 minutes.
# DEMO=long plays the full month: 10,000 leads in 40 minutes.
demo: install-runtime
	bash deploy/local/demo.sh $(BIN) $(if $(filter long,$(DEMO)),--leads 10000 --minutes 40,--leads 1000 --minutes 5)

# The Go programs the deploy tests run (compose-go validates docker-compose.yml, kustomize renders
# deploy/k8s; modules from the Go module proxy, pinned by go.sum). Tests only: `make run` needs no Go.
GO_TOOLS := $(BIN)/leadloop-compose-validate $(BIN)/leadloop-k8s-render
go-tools: $(GO_TOOLS)

$(BIN)/leadloop-compose-validate: $(wildcard deploy/compose/validate/*) | $(DEV)
	cd deploy/compose/validate && go build -o $(abspath $@) .

$(BIN)/leadloop-k8s-render: $(wildcard deploy/k8s/render/*) | $(DEV)
	cd deploy/k8s/render && go build -o $(abspath $@) .

# What the tests need beyond Python, checked before anything runs; each missing one is named with
# the command that installs it.
prerequisites:
	@bash tests/prerequisites.sh java maven chromium go

test: prerequisites install go-tools
	bash tests/run_suite.sh $(BIN)/python

chaos: install
	@bash tests/prerequisites.sh java maven
	$(BIN)/python -m pytest tests/chaos -m chaos -s

test-unit: install go-tools
	$(BIN)/python -m pytest tests/unit -q

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy shared/leadloop deploy/local/leadloop_devstack $(foreach s,capture scoring handoff nurture outcomes,services/$(s)/$(s))

# After changing a dependency in any pyproject.toml: resolve again and commit uv.lock.
lock: | $(UV)
	$(UV) lock

# CI: uv.lock matches every pyproject.toml (fails instead of updating it).
lock-check: | $(UV)
	$(UV) lock --check

contracts: install
	$(BIN)/python -m leadloop.events.write_contracts contracts

# The documentation site (docs/, mkdocs.yml) into site/; --strict fails on any broken link.
docs: install
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

clean:
	rm -rf $(VENV) $(TOOLS) site

bench: install
	@bash tests/prerequisites.sh java maven wrk
	$(BIN)/python -m bench.run $(BENCH_ARGS)

# Twice the sustained rate for 10 minutes (about 25 minutes in all); not part of CI.
soak: install
	$(BIN)/python -m bench.soak $(SOAK_ARGS)
