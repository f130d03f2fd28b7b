# Cloudemy: `make demo` runs the whole platform locally; `make test` runs every check.
# Both set up what they need on a fresh machine (a .venv and the tools under .tools/).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
TOOLS  := .tools/bin
PACKAGES := services/common services/backend services/scheduler runner
PYPROJECTS := $(addsuffix /pyproject.toml,$(PACKAGES))

export PATH := $(CURDIR)/$(TOOLS):$(CURDIR)/$(BIN):$(PATH)

.PHONY: setup tools demo-tools lint test demo bench clean

setup: $(VENV)/.installed tools

$(VENV)/.installed: $(PYPROJECTS) requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade "pip>=24"
	$(BIN)/python -m pip install -q $(foreach p,$(PACKAGES),-e $(p)) -r requirements-dev.txt
	touch $@

tools:
	ci/install-tools.sh --browser

demo-tools:
	ci/install-tools.sh

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: setup lint
	@echo "helm versions: $$($(TOOLS)/helm3 version --short) $$($(TOOLS)/helm4 version --short)"
	$(BIN)/python -m pytest

demo: $(VENV)/.installed demo-tools
	$(BIN)/python -m demo

bench: $(VENV)/.installed demo-tools
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) .tools .pytest_cache .ruff_cache artifacts
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
