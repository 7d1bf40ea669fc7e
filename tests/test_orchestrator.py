"""Citeformer.generate / agenerate: the pipeline, bad input, per-call facts."""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

import pytest

from citeformer import (
    Citeformer,
    Enforcement,
    InvalidCitationError,
    InvalidOptionError,
    InvalidSourceError,
    MarkerStyle,
    MockBackend,
    Policy,
    Source,
    TokenUsage,
)
from citeformer.backends.base import Backend, BackendCall, CitationRequest, Reply
from citeformer.errors import InvalidPromptError, UsageError

FRANCE = {
    "title": "France",
    "author": [{"family": "Dupont", "given": "A."}],
    "issued": {"date-parts": [[2020]]},
}
SOURCES = [
    Source("Paris is the capital of France.", FRANCE),
    Source("Berlin is the capital of Germany.", {"title": "Germany"}),
    Source("Rome is the capital of Italy.", {"title": "Italy"}),
]


def test_generate_returns_validated_cited_answer() -> None:
    cf = Citeformer(MockBackend("Paris is the capital [1]. Rome too [3]. Mars [7]."))
    result = cf.generate("Capitals?", SOURCES)
    assert result.text == "Paris is the capital [1]. Rome too [3]. Mars."
    assert [c.source_id for c in result.citations] == [1, 3]
    assert [m.text for m in result.invalid_markers] == ["[7]"]
    assert result.invalid_markers[0].reason == "out_of_range"
    assert [r.source_id for r in result.references] == [1, 3]
    assert result.enforcement is Enforcement.VALIDATED
    for c in result.citations:
        assert result.text[c.start : c.end] == c.marker


def test_strict_mode_raises_with_every_invalid_marker() -> None:
    cf = Citeformer(MockBackend("A [0]. B [4]. C [1]."), strict=True)
    with pytest.raises(InvalidCitationError) as info:
        cf.generate("q", SOURCES)
    assert [m.text for m in info.value.invalid_markers] == ["[0]", "[4]"]
    assert "strict=False" in str(info.value)
    # Per-call override.
    assert cf.generate("q", SOURCES, strict=False).text == "A. B. C [1]."


def test_backend_receives_request_with_language_and_messages() -> None:
    seen: dict[str, Any] = {}

    def reply(prompt: str, sources: Any) -> str:
        return "ok [2]."

    class Spy(MockBackend):
        def complete(self, call: BackendCall) -> Reply:
            seen.update(call.options, prompt=call.prompt, policy=call.policy, request=call.request)
            return super().complete(call)

    cf = Citeformer(Spy(reply), citation_policy="required", marker_style="paren")
    cf.generate("Which capital?", SOURCES, temperature=0.2)
    request = seen["request"]
    assert isinstance(request, CitationRequest)
    assert ("request" not in seen and "marker_style" not in seen) or seen["request"] is request
    assert request.language.n == 3
    assert request.language.policy is Policy.REQUIRED
    assert request.language.marker_style is MarkerStyle.PAREN
    assert seen["temperature"] == 0.2
    assert seen["prompt"] == "Which capital?"
    user = request.messages[-1]["content"]
    assert "(1) France\nParis is the capital of France." in user
    assert "Which capital?" in user


def test_marker_like_text_inside_sources_has_no_effect() -> None:
    sources = [Source("As shown in [99] and (12), the result holds [1]."), Source("Other.")]
    cf = Citeformer(MockBackend("It holds [1]. Also [2]."))
    result = cf.generate("q", sources)
    assert result.invalid_markers == ()
    assert result.cited_ids == [1, 2]


def test_ten_thousand_sources_work() -> None:
    sources = [Source(f"fact number {i}") for i in range(1, 10_001)]
    cf = Citeformer(MockBackend("First [1], last [10000], beyond [10001]."))
    result = cf.generate("q", sources)
    assert result.cited_ids == [1, 10_000]
    assert [m.text for m in result.invalid_markers] == ["[10001]"]


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"sources": []}, InvalidSourceError, "at least one source"),
        ({"sources": "just a string"}, InvalidSourceError, "wrap a single document"),
        ({"sources": [Source("a"), 3]}, InvalidSourceError, "sources[1] is a int"),
        ({"prompt": 42}, InvalidPromptError, "prompt must be a str"),
        ({"prompt": "   "}, InvalidPromptError, "prompt is empty"),
        ({"policy": "sometimes"}, InvalidOptionError, "unknown policy 'sometimes'"),
        ({"temperature": "hot"}, InvalidOptionError, "temperature='hot' must be a number"),
        ({"max_tokens": 0}, InvalidOptionError, "max_tokens=0 must be a positive int"),
        ({"strict": "yes"}, InvalidOptionError, "strict must be a bool"),
    ],
)
def test_bad_input_gets_a_clear_typed_error(
    kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    cf = Citeformer(MockBackend("x"))
    call: dict[str, Any] = {"prompt": "q", "sources": SOURCES, **kwargs}
    with pytest.raises(error, match=re.escape(message)):
        cf.generate(**call)
    assert issubclass(error, UsageError)


def test_constructor_checks() -> None:
    with pytest.raises(InvalidOptionError, match="unknown marker style 'angle'"):
        Citeformer(MockBackend("x"), marker_style="angle")
    with pytest.raises(InvalidOptionError, match="unknown citation style"):
        Citeformer(MockBackend("x"), style="made-up")
    with pytest.raises(InvalidOptionError, match="backend must be a citeformer Backend"):
        Citeformer(object())  # type: ignore[arg-type]


def test_generate_only_backend_works_on_every_path() -> None:
    class Minimal(Backend):
        def generate(
            self, prompt: str, sources: list[Source], policy: Policy, **options: Any
        ) -> str:
            return f"{prompt} is answered [2]."

    cf = Citeformer(Minimal())
    expected = cf.generate("Q", SOURCES)
    assert "".join(cf.stream("Q", SOURCES)) == expected.text

    async def run() -> tuple[str, str]:
        a = await cf.agenerate("Q", SOURCES)
        chunks = [c async for c in cf.astream("Q", SOURCES)]
        return a.text, "".join(chunks)

    assert asyncio.run(run()) == (expected.text, expected.text)


async def test_concurrent_agenerate_calls_each_get_their_own_usage() -> None:
    backend = MockBackend(
        lambda prompt, sources: f"Answer to {prompt} [{int(prompt) % 3 + 1}].",
        usage=lambda prompt: TokenUsage(
            prompt_tokens=int(prompt), completion_tokens=2 * int(prompt)
        ),
    )
    cf = Citeformer(backend)
    results = await asyncio.gather(*(cf.agenerate(str(i), SOURCES) for i in range(200)))
    for i, result in enumerate(results):
        assert result.usage == TokenUsage(prompt_tokens=i, completion_tokens=2 * i)
        assert result.cited_ids == [i % 3 + 1]
        assert result.text == f"Answer to {i} [{i % 3 + 1}]."
    assert not hasattr(backend, "usage") and not hasattr(backend, "last_usage")


def test_repr_hides_nothing_sensitive_and_is_readable() -> None:
    cf = Citeformer(MockBackend("x"), marker_style="caret")
    assert repr(cf) == (
        "Citeformer(MockBackend(chunks=4), style='ieee', "
        "citation_policy='auto', marker_style='caret')"
    )


async def test_new_bibliography_entries_render_off_the_event_loop() -> None:
    from citeformer.render import clear_cache

    clear_cache()
    sources = [
        Source(f"text {i}", {"title": f"Title {i}", "author": [{"family": f"Name{i}"}],
                             "issued": {"date-parts": [[2000 + i]]}, "publisher": "Press"})
        for i in range(12)
    ]  # fmt: skip
    answer = "Claims " + " ".join(f"[{i}]" for i in range(1, 13)) + "."
    cf = Citeformer(MockBackend(answer), style="chicago-author-date")
    gaps: list[float] = []

    async def ticker() -> None:
        last = time.perf_counter()
        while True:
            await asyncio.sleep(0.002)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0.01)
    start = time.perf_counter()
    result = await cf.agenerate("q", sources)
    elapsed = time.perf_counter() - start
    await asyncio.sleep(0.01)  # let the ticker record the last gap
    task.cancel()
    assert len(result.references) == 12
    # Rendering 12 new entries takes citeproc tens of milliseconds; the loop kept ticking.
    assert max(gaps) < max(elapsed / 2, 0.02), (max(gaps), elapsed)


def test_an_out_of_tree_backend_gets_public_options_with_the_marker_style() -> None:
    seen: dict[str, Any] = {}

    class OutOfTree(Backend):
        def generate(
            self, prompt: str, sources: list[Source], policy: Policy, **options: Any
        ) -> str:
            seen.update(options)
            return "ok (2)."

    result = Citeformer(OutOfTree(), marker_style="paren").generate("q", SOURCES, seed=3)
    assert seen == {"seed": 3, "marker_style": MarkerStyle.PAREN}  # no magic "request" key
    assert result.cited_ids == [2]
