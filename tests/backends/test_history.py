"""Chat history through the core: every API backend sends the earlier turns as chat turns.

Each provider's real SDK talks to the loopback server; the request body must hold the
earlier turns, in order and in the provider's own roles, before the new question
with its sources. The citation language applies to the new answer only.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from citeformer import Citeformer
from citeformer.backends.call import CitationRequest
from citeformer.errors import InvalidPromptError
from citeformer.prompts import check_history
from citeformer.testing import QUESTION, SOURCES
from tests.backends import test_anthropic, test_gemini, test_mistral, test_openai
from tests.backends.schema_api_suite import DOC
from tests.loopback import anthropic_wire, gemini_wire, mistral_wire, openai_wire
from tests.loopback.server import LoopbackServer, Received

HISTORY = [
    {"role": "user", "content": "What is the Eiffel Tower?"},
    {"role": "assistant", "content": "A lattice tower in Paris [1]."},
]


def _openai_turns(body: dict[str, Any]) -> list[tuple[str, str]]:
    return [(m["role"], m["content"]) for m in body["messages"]]


def _anthropic_turns(body: dict[str, Any]) -> list[tuple[str, str]]:
    turns = []
    for m in body["messages"]:
        content = m["content"]
        if isinstance(content, list):  # the new turn: documents, then the question
            content = next(b["text"] for b in content if b["type"] == "text")
        turns.append((m["role"], content))
    return turns


def _gemini_turns(body: dict[str, Any]) -> list[tuple[str, str]]:
    roles = {"user": "user", "model": "assistant"}
    return [(roles[c["role"]], c["parts"][0]["text"]) for c in body["contents"]]


PROVIDERS: dict[str, tuple[Callable[[LoopbackServer], Any], Any, Callable[..., Any]]] = {
    "openai": (test_openai.make, openai_wire.answer(DOC), _openai_turns),
    "anthropic": (
        test_anthropic.backend_for,
        anthropic_wire.answer(test_anthropic.ANSWER),
        _anthropic_turns,
    ),
    "gemini": (test_gemini.make, gemini_wire.answer(DOC), _gemini_turns),
    "mistral": (test_mistral.make, mistral_wire.answer(DOC), _openai_turns),
}


@pytest.mark.parametrize("provider", list(PROVIDERS))
@pytest.mark.parametrize("streamed", [False, True])
async def test_earlier_turns_reach_the_provider_as_chat_turns(
    loopback: LoopbackServer, provider: str, streamed: bool
) -> None:
    build, responder, turns_of = PROVIDERS[provider]
    loopback.reset(responder)
    backend = build(loopback)
    cf = Citeformer(backend)
    try:
        if streamed:
            async with cf.astream(QUESTION, SOURCES, history=HISTORY) as stream:
                result = await stream.finalize()
        else:
            result = await cf.agenerate(QUESTION, SOURCES, history=HISTORY)
    finally:
        await backend.aclose()
    assert all(1 <= c.source_id <= len(SOURCES) for c in result.citations)
    request: Received = loopback.requests[-1]
    turns = [t for t in turns_of(request.body) if t[0] != "system"]
    assert turns[:2] == [(h["role"], h["content"]) for h in HISTORY]
    assert turns[2][0] == "user" and QUESTION in turns[2][1]
    assert len(turns) == 3


def test_history_sits_between_the_instructions_and_the_sources() -> None:
    request = CitationRequest.build(QUESTION, SOURCES, "auto", history=HISTORY)
    roles = [m["role"] for m in request.messages]
    assert roles == ["system", "user", "assistant", "user"]
    assert request.messages[1]["content"] == HISTORY[0]["content"]
    assert "Sources:" in request.messages[-1]["content"]
    assert [m["role"] for m in request.segment_messages] == roles
    plain = CitationRequest.build(QUESTION, SOURCES, "auto")
    assert [m["role"] for m in plain.messages] == ["system", "user"]


def test_history_spellings() -> None:
    assert check_history([("human", "Hi"), ("ai", "Hello")]) == (
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello"},
    )
    assert check_history(None) == () == check_history([])
    for bad, words in (
        ("just text", "list of"),
        ([{"role": "system", "content": "obey"}], "use 'user' or 'assistant'"),
        ([{"role": "user", "content": 3}], "must be text"),
        ([42], "history[0] is a int"),
    ):
        with pytest.raises(InvalidPromptError, match=re.escape(words)):
            check_history(bad)


def test_the_orchestrator_checks_history_before_calling() -> None:
    from citeformer import MockBackend

    with pytest.raises(InvalidPromptError):
        Citeformer(MockBackend("x [1].")).generate(QUESTION, SOURCES, history="no")
