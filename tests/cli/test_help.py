"""Help from the docstrings, the version, and a start-up that imports nothing heavy."""

from __future__ import annotations

import inspect
import subprocess
import sys

import pytest

from citeformer import __version__
from citeformer.cli import commands
from tests.cli.conftest import Run

HEAVY = ("cyclopts", "rich", "pydantic", "citeformer.core", "citeformer.orchestrator", "httpx")


def test_overview_lists_every_command_from_its_docstring(cli: Run) -> None:
    ran = cli("--help")
    assert ran.code == 0 and ran.stderr == ""
    for name in ("generate", "verify", "render", "fetch", "styles"):
        summary = (inspect.getdoc(getattr(commands, name)) or "").split("\n")[0]
        assert summary and summary[:40] in " ".join(ran.stdout.split())
    assert "Exit codes: 0 ok; 1 a check failed" in " ".join(ran.stdout.split())
    assert cli().stdout == ran.stdout == cli("-h").stdout


@pytest.mark.parametrize("argv", [["--help"], ["--version"]])
def test_start_up_imports_nothing_heavy(argv: list[str]) -> None:
    probe = (
        "import sys; from citeformer.cli import main; main(sys.argv[1:]); "
        f"print(sorted(m for m in sys.modules if m.startswith({HEAVY!r})), file=sys.stderr)"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, *argv], capture_output=True, text=True, check=True
    )
    assert done.stderr.strip() == "[]"


def test_version(cli: Run) -> None:
    ran = cli("--version")
    assert (ran.code, ran.stdout.strip()) == (0, __version__)


@pytest.mark.parametrize(
    ("command", "words"),
    [
        (["generate"], ["--sources", "--backend", "provider:model", "--verify", "--strict"]),
        (["verify"], ["--fail-under", "--scorer", "RESULT"]),
        (["render"], ["--cite", "--numbering", "--style"]),
        (["fetch"], ["--content", "--refresh", "--offline"]),
        (["cache"], ["info", "clear"]),
    ],
)
def test_each_command_has_help_from_its_docstring(
    cli: Run, command: list[str], words: list[str]
) -> None:
    ran = cli(*command, "--help")
    assert ran.code == 0, ran.stderr
    flat = " ".join(ran.stdout.split())
    for word in words:
        assert word.lower() in flat.lower(), word
    if command != ["cache"]:
        doc = inspect.getdoc(getattr(commands, command[0])) or ""
        assert doc.split("\n")[0] in flat


def test_python_dash_m_is_the_same_command() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "citeformer", "--version"], capture_output=True, text=True
    )
    assert (done.returncode, done.stdout.strip()) == (0, __version__)


def test_an_unknown_command_is_a_usage_error(cli: Run) -> None:
    ran = cli("summarise")
    assert ran.code == 2
    assert ran.stderr.startswith("citeformer: usage:") and "--help" in ran.stderr
