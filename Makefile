# LeadLoop: `make run` starts everything locally, `make test` runs every test.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PACKAGES := shared services/capture services/scoring services/handoff services/nurture \
            services/outcomes deploy/local
STAMP  := $(VENV)/.installed

.PHONY: install run test test-unit chaos lint contracts clean bench soak docs

# Go programs the deploy tests run (modules from the Go module proxy, pinned by go.sum):
# compose-go validates docker-compose.yml, kustomize renders deploy/k8s. Nothing is vendored.
GO_TOOLS := $(BIN)/leadloop-compose-validate $(BIN)/leadloop-k8s-render

install: $(STAMP) $(GO_TOOLS)

# Re-install whenever a pyproject or the dev requirements change.
$(STAMP): $(foreach p,$(PACKAGES),$(p)/pyproject.toml) requirements-dev.txt
	@command -v java >/dev/null || { echo "Java 17+ is needed for the local Kafka broker"; exit 1; }
	@command -v mvn >/dev/null || { echo "Maven is needed to fetch the Kafka broker's jars"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q $(foreach p,$(PACKAGES),-e $(p)) -r requirements-dev.txt
	@# Upgrading a venv where capture and outcomes still owned `leadloop` deletes the script
	@# shared just installed (their old files are removed after it): put it back.
	@test -x $(BIN)/leadloop || $(BIN)/pip install -q --no-deps -e shared
	touch $(STAMP)

$(BIN)/leadloop-compose-validate: $(wildcard deploy/compose/validate/*) | $(STAMP)
	cd deploy/compose/validate && go build -o $(abspath $@) .

$(BIN)/leadloop-k8s-render: $(wildcard deploy/k8s/render/*) | $(STAMP)
	cd deploy/k8s/render && go build -o $(abspath $@) .

run: install
	$(BIN)/python -m leadloop_devstack run

test: install
	bash tests/run_suite.sh $(BIN)/python

chaos: install
	$(BIN)/python -m pytest tests/chaos -m chaos -s

test-unit: install
	$(BIN)/python -m pytest tests/unit -q

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy shared/leadloop deploy/local/leadloop_devstack $(foreach s,capture scoring handoff nurture outcomes,services/$(s)/$(s))

contracts: install
	$(BIN)/python -m leadloop.events.write_contracts contracts

# The documentation site (docs/, mkdocs.yml) into site/; --strict fails on any broken link.
docs: install
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

clean:
	rm -rf $(VENV) site

bench: install
	$(BIN)/python -m bench.run $(BENCH_ARGS)

# Twice the sustained rate for 10 minutes (about 25 minutes in all); not part of CI.
soak: install
	$(BIN)/python -m bench.soak $(SOAK_ARGS)
