"""The examples and the benchmark run, offline, and print what they promise."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def run_example(name: str) -> str:
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / name)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "Warning" not in done.stderr, done.stderr
    return done.stdout


def test_rag_example() -> None:
    out = run_example("langchain_rag.py")
    assert "Answer:   The Eiffel Tower is 330 metres tall [1]." in out
    assert "[1] at 36-39 -> document 'eiffel': Eiffel Tower https://example.org/eiffel" in out
    assert "-> document 'gustave'" in out
    assert "Removed: [9] (out_of_range)" in out
    assert "Europe [9]" not in out
    assert "A. Historian. (2019). Gustave Eiffel." in out
    assert " | [1] | " in out  # the marker streamed whole, in its own chunk
    assert "Async: Mount Everest is the highest mountain above sea level [1]." in out


def test_streaming_server_example() -> None:
    out = run_example("langchain_streaming_server.py")
    assert "serving on http://127.0.0.1:" in out
    text_lines = [line for line in out.splitlines() if "  text  " in line]
    assert len(text_lines) > 10
    assert "citation  [1] -> boiling (Boiling point, https://example.org/boiling)" in out
    assert "citation  [2] -> altitude (Altitude cooking, https://example.org/altitude)" in out
    assert out.index("text      '[1]'") < out.index("citation  [1]")
    assert "answer: Water boils at 100 °C at sea level [1], and at a lower temperature up a " in out


def test_abatch_example() -> None:
    out = run_example("langchain_abatch.py")
    assert "200 questions, unbounded:" in out
    assert "peak in flight 200" in out
    assert "max_concurrency=20" in out and "peak in flight 20" in out
    assert "- Fact 0 says 0 squared is 0 [1]. Also relevant [2]. Invented.  cites" in out
    assert "every fabricated [3] was removed" in out


@pytest.mark.slow
def test_overhead_benchmark_prints_its_table() -> None:
    sys.path.insert(0, str(ROOT))
    try:
        from benchmarks import langchain_overhead
    finally:
        sys.path.remove(str(ROOT))
    table = langchain_overhead.run(rounds=1)  # make bench takes the median of 3
    lines = table.splitlines()
    assert lines[0].startswith("### LangChain adapter overhead")
    (row,) = [line for line in lines if line.startswith("| 200 ms | 500 |")]
    ratio = float(row.rstrip(" |").rsplit("|", 1)[1].strip().strip("*x"))
    assert 0.3 < ratio < 10
