"""Secrets never serialise: the backend is not serialisable and never appears in output."""

from __future__ import annotations

import json
from typing import Any

from citeformer import Policy, Source
from citeformer.backends.base import Backend
from langchain_core.load import dumpd, dumps
from langchain_core.runnables import RunnablePassthrough

from langchain_citeformer import CiteformerRunnable

SECRET = "sk-live-DO-NOT-LEAK-1234567890"


class KeyedBackend(Backend):
    """A backend holding a credential, like a hosted API backend does."""

    name = "keyed"

    def __init__(self, api_key: str) -> None:
        self.api_key = api_key
        self.client_kwargs = {"api_key": api_key, "base_url": "https://api.example"}

    def generate(self, prompt: str, sources: list[Source], policy: Policy, **options: Any) -> str:
        return "Answer [1]."


def test_runnable_is_not_lc_serializable_and_leaks_nothing() -> None:
    cite = CiteformerRunnable(
        backend=KeyedBackend(SECRET), options={"max_tokens": 10}, policy="required"
    )
    assert CiteformerRunnable.is_lc_serializable() is False
    serialized = cite.to_json()
    assert serialized["type"] == "not_implemented"
    assert serialized["id"] == ["langchain_citeformer", "runnable", "CiteformerRunnable"]
    chain = {"question": RunnablePassthrough(), "documents": lambda _: ["doc"]} | cite
    texts = [
        json.dumps(serialized),
        dumps(cite),
        dumps(chain),
        json.dumps(dumpd(chain)),
        repr(cite),
        str(cite),
        cite.model_dump_json(),
        json.dumps(cite.model_dump(), default=str),
    ]
    for text in texts:
        assert SECRET not in text
        assert "api.example" not in text
    assert "citeformer" not in cite.model_dump()
    assert cite.model_dump()["policy"] == Policy.REQUIRED
    assert chain.invoke("Q?").text == "Answer [1]."


def test_output_messages_serialise_without_the_backend() -> None:
    cite = CiteformerRunnable(backend=KeyedBackend(SECRET))
    message = cite.invoke({"question": "Q?", "documents": ["doc"]})
    text = dumps(message)
    assert SECRET not in text
    assert "Answer [1]." in text
    assert json.loads(message.model_dump_json())["response_metadata"]["citeformer"]["text"] == (
        "Answer [1]."
    )


def test_schemas_describe_the_input_and_output() -> None:
    cite = CiteformerRunnable(backend=KeyedBackend(SECRET))
    schema = json.dumps(cite.get_input_jsonschema())
    for key in ("question", "input", "query", "documents", "context"):
        assert key in schema
    assert cite.get_output_jsonschema()["title"] == "AIMessage"
    as_str = CiteformerRunnable(backend=KeyedBackend(SECRET), output="str")
    assert as_str.get_output_jsonschema()["type"] == "string"
