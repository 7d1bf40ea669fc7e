"""Refresh the committed locks in ``locks/`` (``make lock``).

The library's own dependency ranges (``pyproject.toml``) stay open; the test
environment is pinned here so that a new release on the index never changes
what CI runs. Three locks, all resolved with ``uv pip compile`` for CPython 3.11
on x86_64 Linux, with hashes:

* ``locks/main.txt``: ``.venv`` for ``make test`` (every extra, the dev tools,
  both adapters).
* ``locks/demo.txt``: the subset ``make demo`` needs (core and the ``hf`` extra),
  resolved under ``main.txt`` so the two never disagree.
* ``locks/vllm.txt``: ``.venv-vllm`` (vLLM's CPU build pins its own torch and
  transformers, so it cannot share ``.venv``); inputs in ``locks/vllm.in``.

torch is not in the locks: the Makefile installs ``torch==$TORCH_VERSION`` on its
own first (the CPU build where one is on disk, as on the project's machines), and
the CUDA-only packages an unpinned torch would drag in (``nvidia-*``, ``cuda-*``,
``triton``, never imported on CPU) are left out. The environments are installed
with ``pip install --no-deps -r <lock>``: exactly the listed versions, no
resolution at install time.

Usage: ``python scripts/lock.py [--check]`` (``--check`` only reports whether the
locks are current, without writing them).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCKS = ROOT / "locks"
TORCH_VERSION = os.environ.get("TORCH_VERSION", "2.13.0")
PLATFORM = ["--python-version", "3.11", "--python-platform", "x86_64-manylinux_2_28"]
# Packages installed by other means (torch, the project itself) or never needed on
# CPU; the rest of what they require stays in the lock.
NOT_LOCKED = re.compile(
    r"^(torch|torchvision|torchaudio|torchcodec|triton|citeformer|nvidia-[\w-]+|cuda-[\w-]+)$"
)
# Editable checkouts (uv then knows the local citeformer 0.4 satisfies the adapters;
# an index holds an unrelated older line). Their own lines are not emitted.
MAIN_INPUTS = [
    ".[dev,all,llamacpp,csl-pandoc]",
    "integrations/langchain",
    "integrations/llama-index",
]
# setuptools: the demo installs the checkout without build isolation too.
DEMO_INPUTS = [".[hf]", "setuptools"]


def uv() -> str:
    """The uv executable (``$UV``, the venv's, or on PATH)."""
    candidates = [os.environ.get("UV"), str(Path(sys.executable).parent / "uv"), "uv"]
    for candidate in candidates:
        if candidate and shutil.which(candidate):
            return candidate
    sys.exit("uv not found: pip install uv (the dev extra has it), or set UV=/path/to/uv")


def find_links() -> list[str]:
    """Where the CPU build of torch lives (vLLM's CPU build pins ``torch==X+cpu``)."""
    local = Path(os.environ.get("TORCH_FIND_LINKS", "/opt/wheels"))
    if local.is_dir():
        return ["--find-links", str(local)]
    return ["--extra-index-url", "https://download.pytorch.org/whl/cpu"]


def compile_lock(inputs: list[str], constraints: list[Path], current: Path | None = None) -> str:
    """Run ``uv pip compile`` and return the lock text, with unlocked packages removed.

    ``inputs`` are requirement files (``*.in``), checkouts relative to the root
    (``.[extra]``, ``integrations/x``) or plain requirements. The ``current`` lock's
    pins are kept where they still satisfy the inputs (uv reads an existing output
    file as preferences), so adding a dependency does not move the others;
    ``UPGRADE=1`` re-resolves everything to the newest allowed versions.
    """
    with tempfile.TemporaryDirectory() as tmp:
        torch_pin = Path(tmp) / "torch.txt"
        torch_pin.write_text(f"torch=={TORCH_VERSION}\n")
        requirements = Path(tmp) / "requirements.in"
        requirements.write_text("".join(f"{_input_line(line)}\n" for line in inputs))
        out = Path(tmp) / "lock.txt"
        if current is not None and current.is_file() and not os.environ.get("UPGRADE"):
            out.write_text(current.read_text())
        command = [
            uv(), "pip", "compile", str(requirements), *PLATFORM, *find_links(),
            "--generate-hashes", "--quiet",
            "--custom-compile-command", "make lock",
            "--constraint", str(torch_pin),
            *(arg for c in constraints for arg in ("--constraint", str(c))),
            "--output-file", str(out),
        ]  # fmt: skip
        subprocess.run(command, cwd=ROOT, check=True)
        return strip_unlocked(out.read_text())


def _input_line(entry: str) -> str:
    if entry.endswith((".in", ".txt")):
        return f"-r {entry}"
    if entry.startswith(".") or "/" in entry:
        return f"-e {ROOT / entry}"
    return entry


def strip_unlocked(text: str) -> str:
    """Drop the entries (requirement line, hashes, ``# via`` lines) in ``NOT_LOCKED``.

    Temporary paths in ``# via`` comments are made relative, so the file does not
    change from one run to the next.
    """
    out: list[str] = []
    skipping = False
    for line in text.splitlines():
        if line.startswith("-e "):
            skipping = True
            continue
        if line and not line[0].isspace() and not line.startswith("#"):
            name = re.split(r"[=<>!~\[ ;]", line, maxsplit=1)[0].lower()
            skipping = bool(NOT_LOCKED.match(name))
        elif not line.startswith((" ", "\t")):
            skipping = False
        if skipping:
            continue
        line = re.sub(r"-c /tmp/[^ ]+/torch\.txt", f"torch=={TORCH_VERSION} (make lock)", line)
        line = re.sub(r"-c /tmp/[^ ]+/main\.txt", "locks/main.txt", line)
        line = re.sub(r"-r /tmp/[^ ]+/requirements\.in", "the checkout", line)
        out.append(re.sub(r"(/[^ ]*)?/locks/", "locks/", line))
    return "\n".join(out) + "\n"


def main() -> int:
    """Write the locks (or, with ``--check``, report which would change)."""
    check = "--check" in sys.argv[1:]
    LOCKS.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        fresh_main = Path(tmp) / "main.txt"
        fresh_main.write_text(compile_lock(MAIN_INPUTS, [], LOCKS / "main.txt"))
        wanted = {
            "main.txt": fresh_main.read_text(),
            "demo.txt": compile_lock(DEMO_INPUTS, [fresh_main], LOCKS / "demo.txt"),
            "vllm.txt": compile_lock([str(LOCKS / "vllm.in")], [], LOCKS / "vllm.txt"),
        }
    stale = [name for name, text in wanted.items() if _read(LOCKS / name) != text]
    if check:
        for name in stale:
            print(f"locks/{name} is not what the inputs resolve to today")
        return 1 if stale else 0
    for name, text in wanted.items():
        (LOCKS / name).write_text(text)
    print(f"locks refreshed; changed: {', '.join(stale) or 'none'} (commit them on their own)")
    return 0


def _read(path: Path) -> str:
    return path.read_text() if path.is_file() else ""


if __name__ == "__main__":
    sys.exit(main())
