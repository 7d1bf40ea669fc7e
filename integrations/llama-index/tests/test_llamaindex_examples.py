"""The LlamaIndex examples run offline and print cited answers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = sorted((ROOT / "examples").glob("llamaindex_*.py"))


def test_there_are_examples() -> None:
    """The glob finds the examples (so the parametrised test cannot pass vacuously)."""
    assert [p.name for p in EXAMPLES] == ["llamaindex_query.py"]


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_example_runs(example: Path) -> None:
    """Each example exits 0 with warnings as errors and prints its cited answers."""
    env = {**os.environ, "PYTHONWARNINGS": "error"}
    done = subprocess.run(
        [sys.executable, str(example)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    for section in ("== query (sync)", "== aquery (async", "streaming tokens", "typed events"):
        assert section in out
    assert "in Paris [1]. The Statue of Liberty" in out
    assert "removed markers: ['[5]']" in out
    assert "cited node eiffel-tower" in out
    assert (
        "[1] “Eiffel Tower.” [Online]. Available: https://en.wikipedia.org/wiki/Eiffel_Tower" in out
    )
    assert "The Rhine is one of the major rivers of Europe [1]." in out
    assert "| |[1]|." in out  # the marker arrives whole, in its own token
    assert "cited documents: ['eiffel-tower', 'statue-of-liberty']" in out
    assert "Paris [1]<eiffel-tower>." in out
    assert "<removed [5]>" in out
    assert "[5]" not in out.replace("removed markers: ['[5]']", "").replace("<removed [5]>", "")
