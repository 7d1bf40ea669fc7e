"""A user's code built from this README passes ``mypy --strict`` with precise types.

The README's snippets become modules of their own; ``usage.py`` pins the types a
user relies on with ``assert_type`` (an ``Any`` would fail it); ``mistakes.py``
proves the check can fail: each line marked ``# error`` must be reported, and
nothing else may be.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
PACKAGE = ROOT / "integrations" / "langchain"
README = PACKAGE / "README.md"
SNIPPETS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)

USAGE = """
from typing import Any, assert_type

from citeformer import Citeformer, GenerationResult, MockBackend
from langchain_core.documents import Document
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.tools import BaseTool

from langchain_citeformer import CiteformerRunnable, generation_result

docs = [Document("Paris is the capital of France.")]
backend = MockBackend("Paris [1].")
cite = CiteformerRunnable(backend=backend, style="apa", citation_policy="required")
assert_type(cite, CiteformerRunnable[AIMessage])
assert_type(cite.invoke({"question": "Capital?", "documents": docs}), AIMessage)
for chunk in cite.stream({"question": "Capital?", "documents": docs}):
    assert_type(chunk, AIMessage)
text = CiteformerRunnable(Citeformer(backend), output="str")
assert_type(text.invoke({"question": "Capital?", "documents": docs}), str)
shaped = CiteformerRunnable(backend=backend, output="dict", verify=False)
assert_type(shaped.invoke({"question": "Capital?", "documents": docs}), dict[str, Any])
conversation = cite.invoke([HumanMessage("Capital?")])
result: GenerationResult = generation_result(conversation)
chain = {"documents": lambda _: docs, "question": lambda q: q} | cite
assert_type(chain.invoke("Capital?"), AIMessage)
bound = cite.bind(policy="required")
assert_type(bound.invoke({"question": "Capital?", "documents": docs}), AIMessage)


async def answer() -> str:
    message = await cite.ainvoke({"question": "Capital?", "documents": docs})
    async for piece in text.astream({"question": "Capital?", "documents": docs}):
        assert_type(piece, str)
    return message.text
"""

MISTAKES = """
from citeformer import MockBackend
from langchain_core.documents import Document

from langchain_citeformer import CiteformerRunnable

backend = MockBackend("Paris [1].")
CiteformerRunnable(backend=backend, policy=3)  # error
CiteformerRunnable(backend=backend, bogus=1)  # error
CiteformerRunnable(backend=backend, output="xml")  # error
words: str = CiteformerRunnable(backend=backend).invoke("Capital?")  # error
number: int = CiteformerRunnable(backend=backend, output="str").invoke("Capital?")  # error
"""


def _mypy(files: list[Path]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MYPYPATH": os.pathsep.join([str(ROOT), str(PACKAGE)])}
    # The repository's cache: `make typecheck` has already analysed langchain-core.
    command = [sys.executable, "-m", "mypy", "--strict", "--cache-dir", str(ROOT / ".mypy_cache")]
    return subprocess.run(
        [*command, "--no-error-summary", *map(str, files)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.timeout(320)
def test_readme_code_type_checks_strictly(tmp_path: Path) -> None:
    files = []
    for index, code in enumerate([*SNIPPETS, USAGE, MISTAKES]):
        name = {len(SNIPPETS): "usage", len(SNIPPETS) + 1: "mistakes"}.get(index, f"s{index}")
        path = tmp_path / f"{name}.py"
        path.write_text(code, encoding="utf-8")
        files.append(path)
    run = _mypy(files)
    # By file name: mypy replays a cached module's errors under its cached path.
    errors = [line for line in run.stdout.splitlines() if ": error:" in line]
    expected = {
        number
        for number, line in enumerate(MISTAKES.splitlines(), start=1)
        if line.endswith("# error")
    }
    reported = {int(line.split(":")[1]) for line in errors if _file(line) == "mistakes.py"}
    unexpected = [line for line in errors if _file(line) != "mistakes.py"]
    assert not unexpected, run.stdout + run.stderr
    assert reported == expected, run.stdout + run.stderr


def _file(line: str) -> str:
    return Path(line.split(":")[0]).name
