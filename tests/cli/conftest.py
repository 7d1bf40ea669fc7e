"""The real ``citeformer`` console script, run in a subprocess with a clean environment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.loopback.server import LoopbackServer
from tests.shared_data import ROOT

SCRIPT = Path(sys.executable).with_name("citeformer")
SOURCES_JSON = ROOT / "examples" / "sources.json"
# Provider variables a developer's shell may hold: never let them reach the tests.
_CLEARED = ("OPENAI_", "ANTHROPIC_", "GEMINI_", "GOOGLE_", "MISTRAL_", "CITEFORMER_", "NO_COLOR")


@dataclass(frozen=True)
class Ran:
    """One finished run of the command."""

    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        """stdout as JSON."""
        return json.loads(self.stdout)


Run = Callable[..., Ran]


def command_env(tmp_path: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of one run: a private cache, no colour, unawaited coroutines fatal."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_CLEARED)}
    env.update(
        CITEFORMER_CACHE=str(tmp_path / "cache"),
        NO_COLOR="1",
        PYTHONWARNINGS="error::RuntimeWarning",
        HF_HUB_OFFLINE="1",
    )
    env.update(extra or {})
    return env


@pytest.fixture
def cli(tmp_path: Path) -> Run:
    """``cli(*args, env={...}, stdin="...")`` runs the console script and returns a Ran."""
    if not SCRIPT.is_file():
        pytest.fail(f"the console script {SCRIPT} is not installed; run make install")

    def run(
        *args: str, env: dict[str, str] | None = None, stdin: str = "", timeout: float = 120
    ) -> Ran:
        done = subprocess.run(
            [str(SCRIPT), *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=command_env(tmp_path, env),
            cwd=tmp_path,
            timeout=timeout,
            check=False,
        )
        # An unawaited coroutine is a bug whatever the exit status.
        assert "never awaited" not in done.stderr, done.stderr
        assert "Traceback" not in done.stderr, done.stderr
        return Ran(done.returncode, done.stdout, done.stderr)

    return run


def openai_env(server: LoopbackServer) -> dict[str, str]:
    """What points the openai SDK at the loopback server."""
    return {"OPENAI_BASE_URL": f"{server.url}/v1", "OPENAI_API_KEY": "sk-test-cli-0123456789"}


def one_error_line(ran: Ran) -> str:
    """The one line the command printed on stderr for a failure."""
    lines = [line for line in ran.stderr.splitlines() if line.strip()]
    assert lines, "no error message"
    assert lines[-1].startswith("citeformer: "), ran.stderr
    return lines[-1]


def args_for(sources: Sequence[str | Path]) -> list[str]:
    """``--sources a b c``."""
    return ["--sources", *map(str, sources)]
