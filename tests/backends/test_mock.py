"""MockBackend: scripting, chunking, errors; passes the conformance suite."""

from __future__ import annotations

import pytest

from citeformer import MockBackend, Policy, Source, TokenUsage
from citeformer.backends.base import Backend, BackendText, call_info
from citeformer.errors import InvalidOptionError, RateLimitError, UnexpectedBackendError
from citeformer.testing import BackendConformance

S = [Source("x")]


class TestMockConformance(BackendConformance):
    def make_backend(self) -> Backend:
        return MockBackend(
            "The tower is 330 metres tall [1]. Rome [2] and [9].", chunks=3, usage=TokenUsage(3, 4)
        )


def test_replies_by_prompt_function_and_turns() -> None:
    assert MockBackend({"a": "A"}).generate("a", S, Policy.AUTO) == "A"
    with pytest.raises(InvalidOptionError, match="no reply scripted for prompt 'b'"):
        MockBackend({"a": "A"}).generate("b", S, Policy.AUTO)
    assert MockBackend(lambda p, s: p * 2).generate("ab", S, Policy.AUTO) == "abab"
    turns = MockBackend(["one", "two"])
    assert [turns.generate("q", S, Policy.AUTO) for _ in range(3)] == ["one", "two", "one"]


def test_chunking_choices() -> None:
    assert MockBackend("abcdefg", chunks=3).split("abcdefg") == ["abc", "def", "g"]
    assert MockBackend(chunks=[1, 2]).split("abcdef") == ["a", "bc", "d", "ef"]
    assert MockBackend(chunks=lambda t: t.split(" ")).split("a b") == ["a", "b"]
    chunks = list(MockBackend("[12]", chunks=1).stream("q", S, Policy.AUTO))
    assert chunks[:4] == ["[", "1", "2", "]"]
    assert isinstance(chunks[-1], BackendText) and chunks[-1] == ""


def test_usage_and_finish_reason_travel_with_the_text() -> None:
    out = MockBackend("hi", usage=TokenUsage(1, 2), finish_reason="length").generate(
        "q", S, Policy.AUTO
    )
    assert call_info(out).usage == TokenUsage(1, 2)
    assert call_info(out).finish_reason == "length"


def test_scripted_errors_come_through_the_error_boundary() -> None:
    boom = RuntimeError("x")
    backend = MockBackend("abcdef", chunks=2, error=boom, error_after=2)
    iterator = backend.stream("q", S, Policy.AUTO)
    assert [next(iterator), next(iterator)] == ["ab", "cd"]
    with pytest.raises(UnexpectedBackendError) as info:
        next(iterator)
    assert info.value.__cause__ is boom
    with pytest.raises(UnexpectedBackendError):
        backend.generate("q", S, Policy.AUTO)
    typed = MockBackend("x", error=RateLimitError("slow down", provider="mock"))
    with pytest.raises(RateLimitError):  # citeformer's own errors pass unchanged
        typed.generate("q", S, Policy.AUTO)


def test_bad_scripts_are_rejected() -> None:
    with pytest.raises(InvalidOptionError):
        MockBackend([])
    with pytest.raises(InvalidOptionError):
        MockBackend("x", chunks=0)
