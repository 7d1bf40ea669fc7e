"""Start-up of the ``citeformer`` command: the overview and --version against a bare interpreter.

Each row is the median wall time of fresh processes (the console script, as a user
runs it). ``citeformer --help`` and ``--version`` must not pay for cyclopts, rich or
the core package; ``generate --help`` is cyclopts' full help and shows what that
would cost. The ratio is against ``python -c pass`` in the same run.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchmarks._timing import table

SCRIPT = Path(sys.executable).with_name("citeformer")
RUNS = 9


def _median_ms(command: list[str]) -> float:
    samples = []
    for _ in range(RUNS):
        start = time.perf_counter()
        subprocess.run(command, capture_output=True, check=True)
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def run() -> str:
    """The table, as Markdown."""
    cases = [
        ("python -c pass", [sys.executable, "-c", "pass"]),
        ("python -c 'import citeformer'", [sys.executable, "-c", "import citeformer"]),
        ("citeformer --version", [str(SCRIPT), "--version"]),
        ("citeformer --help", [str(SCRIPT), "--help"]),
        ("citeformer generate --help (cyclopts)", [str(SCRIPT), "generate", "--help"]),
    ]
    timed = [(name, _median_ms(command)) for name, command in cases]
    base = timed[0][1]
    rows = [[name, f"{ms:.0f}", f"{ms / base:.2f}x"] for name, ms in timed]
    return table(
        f"CLI start-up (median of {RUNS} fresh processes)",
        ["command", "ms", "vs python -c pass"],
        rows,
    )


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    print(run())
