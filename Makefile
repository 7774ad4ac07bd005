# Short names for the nox sessions. Every target is one line that calls nox; the work
# lives in the terrafusion_sync package. `make` alone prints this list.
.DEFAULT_GOAL := help
PYTHON ?= python3
VENV := .venv
NOX := $(VENV)/bin/nox
ARGS ?=

# A local environment with nox and uv (and the package, so plain `alembic` works in it).
$(VENV)/.bootstrapped: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check --upgrade "pip>=25.1"
	$(VENV)/bin/python -m pip install --quiet --group tools
	$(VENV)/bin/uv pip install --quiet --python $(VENV)/bin/python -e . --group dev
	touch $@

##@ Everyday
.PHONY: upgrade
upgrade: $(VENV)/.bootstrapped  ## Bring the database to head (REV=<rev> for another target)
	$(NOX) -s upgrade -- $(REV)

.PHONY: contract
contract: $(VENV)/.bootstrapped  ## Apply the waiting contract revisions, once old code stopped writing (ARGS=--force)
	$(NOX) -s upgrade -- --contract $(ARGS)

.PHONY: revision
revision: $(VENV)/.bootstrapped  ## Autogenerate a revision from the models: make revision M="add owner email"
	$(NOX) -s revision -- "$(M)" $(ARGS)

.PHONY: init
init: $(VENV)/.bootstrapped  ## Autogenerate the initial revision, only when versions/ is empty
	$(NOX) -s init

.PHONY: downgrade
downgrade: $(VENV)/.bootstrapped  ## Step back to REV (required): make downgrade REV=-1
	$(NOX) -s downgrade -- $(REV)

.PHONY: status
status: $(VENV)/.bootstrapped  ## Which database, its revision, head and pending revisions (ARGS=--graph draws them)
	$(NOX) -s status -- $(ARGS)

.PHONY: sql
sql: $(VENV)/.bootstrapped  ## The SQL an upgrade would run, changing nothing: make sql [REV=[FROM:]TO]
	$(NOX) -s sql -- $(REV)

.PHONY: plan
plan: $(VENV)/.bootstrapped  ## What an upgrade would run and do here, per table (locks, rewrites, sizes, will fail); changes nothing
	$(NOX) -s upgrade -- --plan $(REV)

.PHONY: rehearse
rehearse: $(VENV)/.bootstrapped  ## Run the pending upgrade on a copy of the database's rows, measured per revision (ARGS="--sample 10 --keep --to URL --format json")
	$(NOX) -s rehearse -- $(REV) $(ARGS)

.PHONY: history
history: $(VENV)/.bootstrapped  ## Every migration step run on the database: who, when, result
	$(NOX) -s history -- $(ARGS)

.PHONY: docs
docs: $(VENV)/.bootstrapped  ## Write docs/schema.md: ER diagram of the models, graph of the revisions (ARGS=--check)
	$(NOX) -s docs -- $(ARGS)

.PHONY: backfills
backfills: $(VENV)/.bootstrapped  ## Every backfill (op.backfill): rows done, rate, state
	$(NOX) -s backfill -- status $(ARGS)

.PHONY: validate
validate: $(VENV)/.bootstrapped  ## Check applied revision files are unchanged since applied
	$(NOX) -s validate -- $(ARGS)

##@ Keeping the history short
.PHONY: squash
squash: $(VENV)/.bootstrapped  ## Fold every revision up to REV into one proven baseline: make squash REV=abc123 (ARGS=--force)
	$(NOX) -s squash -- --through $(REV) $(ARGS)

.PHONY: rebase
rebase: $(VENV)/.bootstrapped  ## Two heads after a merge: move this branch's revisions onto main's head (ARGS="--onto BRANCH")
	$(NOX) -s rebase -- $(ARGS)

##@ Many databases (fleet.toml)
.PHONY: fleet-status
fleet-status: $(VENV)/.bootstrapped  ## Every database of the fleet: reachable, revision, pending, last upgrade
	$(NOX) -s fleet -- status $(ARGS)

.PHONY: fleet-plan
fleet-plan: $(VENV)/.bootstrapped  ## Per database, the revisions a fleet upgrade would run; changes nothing
	$(NOX) -s fleet -- upgrade --plan $(ARGS)

.PHONY: fleet-rehearse
fleet-rehearse: $(VENV)/.bootstrapped  ## Rehearse every database's pending upgrade on a copy of its rows: ARGS="--jobs 4"
	$(NOX) -s fleet -- rehearse $(ARGS)

.PHONY: fleet-upgrade
fleet-upgrade: $(VENV)/.bootstrapped  ## Upgrade every database, canaries first: ARGS="--jobs 8 --canary benton"
	$(NOX) -s fleet -- upgrade $(ARGS)

##@ Checks
.PHONY: test
test: $(VENV)/.bootstrapped  ## Bring the test database to head, then run pytest (ARGS="-k sync")
	$(NOX) -s test -- $(ARGS)

.PHONY: pytest-alembic
pytest-alembic: $(VENV)/.bootstrapped  ## pytest-alembic on the migrations, in its own environment (pytest < 9); make test runs it too
	$(NOX) -s pytest_alembic -- $(ARGS)

.PHONY: review
review: $(VENV)/.bootstrapped  ## The gate before merge: lint, types, history, drift, stairway, unsafe SQL, seals (ARGS=--seal)
	$(NOX) -s review -- $(ARGS)

.PHONY: lint
lint: $(VENV)/.bootstrapped  ## Fix what ruff can fix, format the code, type-check it (mypy --strict)
	$(NOX) -s lint

.PHONY: bench
bench: $(VENV)/.bootstrapped  ## Benchmarks, printed as side-by-side ratios (ARGS=bench_upgrade for one)
	$(NOX) -s bench -- $(ARGS)

.PHONY: hooks
hooks: $(VENV)/.bootstrapped  ## Install the pre-commit hooks (ruff, and the review on migration changes)
	$(VENV)/bin/pre-commit install

##@ Embedded database
.PHONY: db-stop
db-stop: $(VENV)/.bootstrapped  ## Stop the embedded PostgreSQL servers (the application's data stays in .tfsync/)
	$(NOX) -s db-stop

##@ Help
.PHONY: help
help:  ## Show this list
	@awk 'BEGIN {FS = ":.*?## "} /^##@/ {printf "\n%s\n", substr($$0, 5)} /^[a-z-]+:.*?## / {printf "  %-14s %s\n", $$1, $$2}' $(MAKEFILE_LIST)
