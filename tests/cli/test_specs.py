"""``--backend`` and ``--scorer`` specs and the argument parsers (logic only)."""

from __future__ import annotations

import pytest

from citeformer.cli.documents import below, parse_cite
from citeformer.cli.exits import CommandError, Exit
from citeformer.cli.generate import call_options
from citeformer.cli.specs import backend_from_spec, scorer_from_spec
from citeformer.verify import LexicalScorer


@pytest.mark.parametrize(
    ("spec", "options", "words"),
    [
        ("nosuch:m", {}, "unknown backend"),
        ("openai", {}, "names no model"),
        ("openai:", {}, "names no model"),
        ("embedded:big", {}, "takes no model"),
        ("server:", {}, "API root"),
        ("server:http://h/v1", {}, "--server-kind"),
        ("server:http://h/v1", {"server_kind": "vllm"}, "--model"),
        ("openai:gpt", {"server_kind": "vllm"}, "only applies"),
    ],
)
def test_bad_backend_specs_are_usage_errors(spec: str, options: dict[str, str], words: str) -> None:
    with pytest.raises(CommandError) as caught:
        backend_from_spec(spec, **options)
    assert caught.value.code == Exit.USAGE and words in str(caught.value)


def test_hosted_and_server_specs_build_their_backends(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-unit")
    openai = backend_from_spec("openai:gpt-4o-mini")
    assert type(openai).__name__ == "OpenAIBackend" and openai.model == "gpt-4o-mini"
    assert "sk-unit" not in repr(openai)
    server = backend_from_spec(
        "server:http://127.0.0.1:8000/v1", server_kind="llama.cpp", model="smol"
    )
    assert server.model == "smol"


def test_scorer_specs() -> None:
    assert isinstance(scorer_from_spec("lexical"), LexicalScorer)
    assert isinstance(scorer_from_spec(" Lexical "), LexicalScorer)
    for bad in ("oracle", "nli", "judge", "lexical:x"):
        with pytest.raises(CommandError):
            scorer_from_spec(bad)


def test_parse_cite() -> None:
    assert parse_cite(None, 3) == [1, 2, 3]
    assert parse_cite("3,1,2", 3) == [3, 1, 2]
    assert parse_cite("2-4, 1, 2", 5) == [2, 3, 4, 1]
    for bad in ("0", "4", "a", "3-2", "1,,2", ""):
        with pytest.raises(CommandError):
            parse_cite(bad, 3)


def test_call_options() -> None:
    assert call_options(None, None) == {}
    assert call_options(64, 0.0) == {"max_tokens": 64, "temperature": 0.0}
    for tokens, temperature in ((0, None), (None, -0.1), (None, 2.5)):
        with pytest.raises(CommandError):
            call_options(tokens, temperature)


class _Scores:
    def __init__(self, recall: float | None, precision: float | None) -> None:
        self.citation_recall, self.citation_precision = recall, precision


@pytest.mark.parametrize(
    ("recall", "precision", "failing"),
    [(0.9, 0.9, 0), (0.7, 0.9, 1), (0.7, 0.1, 2), (None, None, 2), (0.8, 0.8, 0)],
)
def test_fail_under(recall: float | None, precision: float | None, failing: int) -> None:
    assert len(below(_Scores(recall, precision), 0.8)) == failing  # type: ignore[arg-type]
