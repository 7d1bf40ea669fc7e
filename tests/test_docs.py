"""The README's snippets and the examples run, so the docs cannot rot."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SNIPPETS = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
# ```py blocks need what CI lacks (vLLM's venv: tests_vllm runs that one; API keys).
API_BLOCKS = [
    block
    for block in re.findall(r"```py\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    if "VLLMBackend" not in block
]
# quickstart.py loads the real model; it has its own test below.
# The adapters' examples are run by their own suites (integrations/*/tests).
EXAMPLES = sorted(
    p
    for p in (ROOT / "examples").glob("*.py")
    if p.name != "quickstart.py" and not p.name.startswith(("langchain_", "llamaindex_"))
)


def test_readme_has_snippets_and_examples_exist() -> None:
    assert len(SNIPPETS) >= 5
    assert EXAMPLES


@pytest.mark.parametrize("code", SNIPPETS, ids=[f"snippet{i}" for i in range(len(SNIPPETS))])
def test_readme_snippet_runs(code: str) -> None:
    exec(compile(code, "README.md", "exec"), {"__name__": "readme"})


@pytest.mark.parametrize("code", API_BLOCKS, ids=[f"api{i}" for i in range(len(API_BLOCKS))])
def test_readme_api_blocks_compile_and_their_imports_exist(code: str) -> None:
    # They call hosted APIs, so they cannot run here; the same calls run through the
    # real SDKs against the loopback servers in tests/backends. What can rot is checked.
    tree = compile(
        code, "README.md", "exec", flags=ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
    )
    imports = [node for node in tree.body if isinstance(node, ast.ImportFrom)]
    assert imports
    exec(compile(ast.Module(body=imports, type_ignores=[]), "README.md", "exec"), {})


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_runs(path: Path) -> None:
    out = subprocess.run(
        [sys.executable, str(path)], capture_output=True, text=True, timeout=300, cwd=ROOT
    )
    assert out.returncode == 0, out.stderr
    assert "[1" in out.stdout


def test_validator_example_shows_the_removed_marker() -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "validator.py")],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert "References\n[1]" in out.stdout
    assert "Removed [7]" in out.stdout


# What `make demo` may print on stderr: its progress lines, and the embedded model's
# one-time conversion lines. Anything else (a warning, a library's progress bar) fails.
DEMO_STDERR = re.compile(
    r"Loading the embedded model \(SmolLM2-135M-Instruct\) \.\.\."
    r"|Model ready in \d+\.\d s"
    r"|citeformer: (converting the embedded model once .*|tokenizer ready; .*"
    r"|embedded model ready in \d+\.\d s)"
)


def test_quickstart_prints_a_grammar_enforced_answer_and_nothing_else() -> None:
    # As a user runs it: default warning filters, not the suite's warnings-as-errors.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONWARNINGS"}
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "quickstart.py")],
        capture_output=True, text=True, check=True, timeout=600, env=env,
    )  # fmt: skip
    unexpected = [line for line in out.stderr.splitlines() if not DEMO_STDERR.fullmatch(line)]
    assert not unexpected, "the demo printed more than its progress lines:\n" + out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("Q: ") and lines[1].startswith("A: "), out.stdout
    answer, _, rest = out.stdout.partition("\n\nReferences\n")
    assert rest, out.stdout
    references, _, rest = rest.partition("\n\n")
    enforcement, _, verification = rest.partition("\n\n")
    assert all(re.fullmatch(r"\[[1-3]\] .+", line) for line in references.splitlines()), rest
    assert re.fullmatch(
        r"Enforcement: grammar \(only \[1\]\.\.\[3\] could be decoded; 0 markers removed by "
        r"the validator\); \d+ tokens, finish: (stop|length)",
        enforcement,
    ), enforcement
    # The answer is verified, and the report says what judged it and what it cannot tell.
    head, scores, note, *sentences = verification.splitlines()
    assert re.fullmatch(r"Verification by LexicalScorer \(lexical, threshold 0\.5\)", head), head
    assert re.fullmatch(r"citation recall (\d\.\d\d), citation precision (\d\.\d\d|n/a), "
                        r"cited sentences supported (\d\.\d\d|n/a)", scores), scores  # fmt: skip
    assert note.startswith("note: No entailment model was used"), note
    statuses = [re.match(r"- \[(supported [\d.]+|not supported [\d.]+|uncited|unverifiable)\] ",
                         line) for line in sentences if line.startswith("- ")]  # fmt: skip
    assert statuses and all(statuses), verification
    assert "Warning" not in answer and "warn" not in out.stdout.lower()
