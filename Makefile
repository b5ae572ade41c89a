# pexd — developer targets (run, dev, test, check, bench, seed) and the VPS install (all, uninstall).
SHELL := /bin/bash
.DEFAULT_GOAL := help
BUN ?= $(shell command -v bun 2>/dev/null || echo $(CURDIR)/node_modules/.bin/bun)

.PHONY: help deps run dev test check format bench seed

help:
	@echo "make run | dev | test | check | bench | seed | all (root, VPS install) | uninstall"

node_modules/.installed: package.json bun.lock
	@command -v bun >/dev/null 2>&1 || [ -x node_modules/.bin/bun ] || npm install --no-save --no-audit --no-fund bun@1.4.5
	$(BUN) install --frozen-lockfile
	@touch $@

deps: node_modules/.installed

run: deps
	$(BUN) run scripts/dev.ts --no-watch

dev: deps
	$(BUN) run scripts/dev.ts

# bunfig.toml has no per-test timeout setting; end-to-end tests start real processes (pexd, anvil).
test: deps
	$(BUN) test --timeout 60000

check: deps
	$(BUN) run check

format: deps
	$(BUN) run format

bench: deps
	$(BUN) run bench/run.ts

# Random widgets into PEXD_DATA_DIR (default ./data), reproducible for a given SEED.
WIDGETS ?= 1000000
SEED ?= 1
seed: deps
	$(BUN) run db:seed --widgets $(WIDGETS) --seed $(SEED)

# VPS install (as root): see README.md, "VPS install". DESTDIR stages the files; PURGE=1 uninstall removes data.
.PHONY: all uninstall
all:
	@DESTDIR="$(DESTDIR)" bash scripts/install.sh

uninstall:
	@DESTDIR="$(DESTDIR)" PURGE="$(PURGE)" bash scripts/uninstall.sh
