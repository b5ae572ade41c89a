# pexd — developer targets (run, dev, test, check, bench, seed) and the VPS install (all, uninstall).
SHELL := /bin/bash
.DEFAULT_GOAL := help
BUN ?= $(shell command -v bun 2>/dev/null || echo $(CURDIR)/node_modules/.bin/bun)

.PHONY: help deps run dev test check format build torture bench seed

help:
	@echo "make run | dev | test | check | build | torture | bench | seed | all (root, VPS install) | uninstall"

node_modules/.installed: package.json bun.lock
	@command -v bun >/dev/null 2>&1 || [ -x node_modules/.bin/bun ] || bash scripts/ensure-bun.sh
	$(BUN) install --frozen-lockfile
	@touch $@

deps: node_modules/.installed

run: deps
	$(BUN) run scripts/dev.ts --no-watch

dev: deps
	$(BUN) run scripts/dev.ts

# Installs what the tests need (Debian packages as root; PEXD_TEST_SKIP=name,… opts out), then runs
# them: scripts/test.sh. ARGS=… goes to `bun test` (e.g. ARGS=test/fib.e2e.test.ts).
test: deps
	@BUN="$(BUN)" bash scripts/test.sh $(ARGS)

check: deps
	$(BUN) run check

format: deps
	$(BUN) run format

# One self-contained executable: dist/pexd (migrations, templates and web assets inside).
build: deps
	$(BUN) run scripts/build.ts --outfile dist/pexd

# The torture campaign (kill -9, anvil restarts, fuzzing, slowloris, soak): ≤ 10 min on 2 cores;
# ARGS=--short for the CI-sized run, ARGS="--seed N --only fuzz" to replay (docs/faults.md, "Torture").
torture: deps
	$(BUN) run scripts/torture.ts $(ARGS)

bench: deps
	$(BUN) run bench/run.ts

# Random widgets into PEXD_DATA_DIR (default ./data), reproducible for a given SEED.
WIDGETS ?= 1000000
SEED ?= 1
seed: deps
	$(BUN) run db:seed --widgets $(WIDGETS) --seed $(SEED)

# VPS install (as root): see docs/operations.md. DESTDIR stages the files; PURGE=1 uninstall removes data;
# INSTANCES=8081,8082 (with PEXD_DATABASE_URL=…, optional PEXD_REDIS_URL=… and NGINX_PORT=80) installs
# pexd@<port> instances behind nginx (docs/operations.md, "Scale-out"). Command-line variables reach the scripts.
.PHONY: all uninstall
all:
	@DESTDIR="$(DESTDIR)" bash scripts/install.sh

uninstall:
	@DESTDIR="$(DESTDIR)" PURGE="$(PURGE)" bash scripts/uninstall.sh
