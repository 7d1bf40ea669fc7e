# citeformer — `make help` lists the targets.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# The CPU build of torch, pinned: an unpinned torch pulls a multi-GB CUDA build.
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	# xgrammar declares triton, which is never imported on CPU (~1 GB).
	$(BIN)/python -m pip uninstall --quiet -y triton || true
	touch $(STAMP)

install: $(STAMP) ## Create .venv and install citeformer with its dev tools

demo: $(STAMP) ## Print a cited answer (scripted until the local model backend lands)
	$(BIN)/python examples/quickstart.py

test: $(STAMP) lint typecheck ## Lint, type-check and run the whole test suite
	$(BIN)/python -m pytest

lint: $(STAMP) ## ruff lint and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP) ## Apply ruff formatting and safe fixes
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

typecheck: $(STAMP) ## mypy --strict on the citeformer package
	$(BIN)/mypy

bench: $(STAMP) ## Run the benchmarks and print their tables
	$(BIN)/python benchmarks/run.py

clean: ## Remove the virtual environment and caches
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache

.PHONY: help install demo test lint format typecheck bench clean
