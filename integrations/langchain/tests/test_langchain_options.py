"""Per-call options through ``bind``, call kwargs and ``configurable_fields``, in real chains."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from citeformer import Policy, Source
from citeformer.backends.base import Backend
from citeformer.errors import CitationPolicyError, InvalidCitationError
from langchain_core.documents import Document
from langchain_core.runnables import ConfigurableField, RunnableLambda

from langchain_citeformer import CiteformerRunnable

DOCS = [Document("Paris is the capital of France."), Document("Berlin is in Germany.")]
ASK = {"question": "Capital?", "documents": DOCS}


class Recording(Backend):
    """Answers ``reply`` and records the policy and options of each call."""

    name = "recording"

    def __init__(self, reply: str = "Paris is the capital [1].") -> None:
        self.reply = reply
        self.calls: list[tuple[Policy, dict[str, Any]]] = []

    def generate(self, prompt: str, sources: list[Source], policy: Policy, **options: Any) -> str:
        self.calls.append((policy, options))
        return self.reply

    def stream(
        self, prompt: str, sources: list[Source], policy: Policy, **options: Any
    ) -> Iterator[str]:
        self.calls.append((policy, options))
        yield self.reply

    async def agenerate(
        self, prompt: str, sources: list[Source], policy: Policy, **options: Any
    ) -> str:
        self.calls.append((policy, options))
        return self.reply

    async def astream(
        self, prompt: str, sources: list[Source], policy: Policy, **options: Any
    ) -> AsyncIterator[str]:
        self.calls.append((policy, options))
        yield self.reply


def test_bind_and_call_kwargs_set_the_policy_sync() -> None:
    backend = Recording()
    cite = CiteformerRunnable(backend=backend)
    cite.bind(policy="required").invoke(ASK)
    cite.invoke(ASK, policy=Policy.QUOTES_ONLY)
    list(cite.bind(policy="required").stream(ASK))
    cite.invoke(ASK)
    assert [policy for policy, _ in backend.calls] == [
        Policy.REQUIRED, Policy.QUOTES_ONLY, Policy.REQUIRED, Policy.AUTO,
    ]  # fmt: skip


async def test_bind_sets_the_policy_async_inside_a_chain() -> None:
    backend = Recording()
    chain = RunnableLambda(lambda q: {"question": q, "documents": DOCS}) | CiteformerRunnable(
        backend=backend
    ).bind(policy="required", temperature=0.2)
    await chain.ainvoke("Capital?")
    async for _ in chain.astream("Capital?"):
        pass
    assert [(p, o.get("temperature")) for p, o in backend.calls] == [
        (Policy.REQUIRED, 0.2), (Policy.REQUIRED, 0.2),
    ]  # fmt: skip


def test_a_bound_required_policy_is_enforced() -> None:
    cite = CiteformerRunnable(backend=Recording("No citation here."))
    with pytest.raises(CitationPolicyError):
        cite.bind(policy="required", strict=True).invoke(ASK)
    assert cite.invoke(ASK).text == "No citation here."  # the field default: AUTO


def test_bound_strict_and_marker_style_reach_the_core() -> None:
    cite = CiteformerRunnable(backend=Recording("Paris [3]."))
    assert cite.invoke(ASK).text == "Paris."  # repaired
    with pytest.raises(InvalidCitationError):
        cite.bind(strict=True).invoke(ASK)
    paren = CiteformerRunnable(backend=Recording("Paris (1).")).bind(marker_style="paren")
    cited = paren.invoke(ASK).response_metadata["citeformer"]["citations"]
    assert [c["source_id"] for c in cited] == [1]


def test_configurable_policy_and_verify() -> None:
    backend = Recording()
    cite = CiteformerRunnable(backend=backend).configurable_fields(
        policy=ConfigurableField(id="policy"), verify=ConfigurableField(id="verify")
    )
    cite.invoke(ASK, config={"configurable": {"policy": "required"}})
    assert backend.calls[-1][0] is Policy.REQUIRED
    checked = cite.invoke(ASK, config={"configurable": {"verify": lambda p, h: 0.9}})
    assert "verification" in checked.response_metadata


def test_bound_verify_turns_verification_on_for_that_call() -> None:
    cite = CiteformerRunnable(backend=Recording())
    plain = cite.invoke(ASK)
    verified = cite.bind(verify=lambda premise, hypothesis: 0.9).invoke(ASK)
    assert "verification" not in plain.response_metadata
    assert "verification" in verified.response_metadata


def test_a_bad_bound_policy_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="policy"):
        CiteformerRunnable(backend=Recording()).bind(policy="sometimes").invoke(ASK)
