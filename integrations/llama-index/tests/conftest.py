"""Fixtures: a real in-memory VectorStoreIndex, backends, event recorders.

Backends: ``NativeAsyncBackend`` (``await asyncio.sleep``, scripted replies, for
tests of the adapter's own behaviour) and ``OpenAIBackend`` talking through the real
openai SDK to the repository's loopback OpenAI server (``tests/loopback``; the
repository root is on ``sys.path`` when pytest runs from it), which answers each
request from the sources and question it carries.

Test modules get everything through fixtures (with ``--import-mode=importlib`` a
conftest is not importable as a module).
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from llama_index.core import VectorStoreIndex
from llama_index.core.instrumentation import get_dispatcher
from llama_index.core.instrumentation.event_handlers import BaseEventHandler
from llama_index.core.instrumentation.events import BaseEvent
from llama_index.core.instrumentation.span_handlers import SimpleSpanHandler
from llama_index.core.schema import TextNode
from llama_index.core.settings import _Settings
from llama_index.response_synthesizers.citeformer import HashingEmbedding
from pydantic import Field

from citeformer import Policy, Source
from citeformer.backends.base import Backend
from citeformer.backends.openai import OpenAIBackend
from tests.loopback import openai_wire
from tests.loopback.server import LoopbackServer, Received

PASSAGES = {
    "eiffel": (
        "The Eiffel Tower is a wrought-iron lattice tower on the Champ de Mars in Paris, "
        "France. It is named after the engineer Gustave Eiffel, whose company designed "
        "and built the tower from 1887 to 1889.",
        {"title": "Eiffel Tower", "url": "https://en.wikipedia.org/wiki/Eiffel_Tower"},
    ),
    "rhine": (
        "The Rhine is one of the major rivers of Europe. It rises in the Swiss Alps and "
        "flows through Germany and the Netherlands before emptying into the North Sea.",
        {"title": "Rhine", "author": "Wikipedia contributors", "date": "2024-05-01"},
    ),
    "everest": (
        "Mount Everest is Earth's highest mountain above sea level, located in the "
        "Mahalangur Himal sub-range of the Himalayas on the border between Nepal and China.",
        {"title": "Mount Everest", "year": 2023},
    ),
    "danube": (
        "The Danube is the second-longest river in Europe after the Volga. It flows "
        "through much of Central and Southeastern Europe, from the Black Forest into the "
        "Black Sea.",
        {"title": "Danube"},
    ),
}
"""Node id -> (text, metadata). Fixed ids, so citations can be checked by id."""

KEYWORDS = {"eiffel": "Eiffel", "rhine": "Rhine", "everest": "Everest", "danube": "Danube"}


def scripted_answer(prompt: str, sources: list[Source]) -> str:
    """An answer citing, by its position, each source whose keyword the prompt names.

    Positions are looked up in ``sources``, so the answer is right whatever order the
    retriever returned the nodes in. One extra out-of-range marker checks validation.
    """
    sentences = []
    for node_id, keyword in KEYWORDS.items():
        if keyword.lower() not in prompt.lower():
            continue
        for position, source in enumerate(sources, start=1):
            if keyword in source.content:
                first = re.split(r"(?<=\.) ", source.content)[0].rstrip(".")
                sentences.append(f"{first} [{position}].")
                break
        else:
            sentences.append(f"Nothing retrieved about {node_id}.")
    sentences.append(f"Some claims stay unsupported [{len(sources) + 5}].")
    return " ".join(sentences)


_SOURCE_BLOCK = re.compile(r"^\[(\d+)\][^\n]*\n(.*?)(?=\n\n\[\d+\]|\n\nQuestion: |\Z)", re.M | re.S)


def wire_answer(request: Received) -> str:
    """The loopback server's reply to one chat-completions request (a segment document).

    Parses the numbered sources and the question out of the user message and, like
    :func:`scripted_answer`, cites by number each source whose keyword the question
    names; each segment repeats the question, so a reply can be told apart from
    another question's.
    """
    user = request.body["messages"][-1]["content"]
    question = user.rsplit("\n\nQuestion: ", 1)[1]
    blocks = {int(n): text for n, text in _SOURCE_BLOCK.findall(user)}
    parts: list[tuple[str, list[int]]] = []
    for keyword in KEYWORDS.values():
        if keyword.lower() not in question.lower():
            continue
        hits = [n for n, text in blocks.items() if keyword in text]
        parts.append((f"On {question!r}: the {keyword} passage says so.", hits[:1]))
    return openai_wire.segments(*(parts or [(f"Nothing retrieved for {question!r}.", [])]))


class NativeAsyncBackend(Backend):
    """A backend with native ``agenerate``/``astream`` (``await asyncio.sleep``).

    It records how many calls were in flight at once, which threads ran its async
    methods, and whether streams were closed, so tests can check the async path takes
    no thread hop and runs calls concurrently.
    """

    name = "native-async-test"

    def __init__(
        self,
        reply: Callable[[str, list[Source]], str] = scripted_answer,
        *,
        delay: float = 0.0,
        chunk_size: int = 3,
    ) -> None:
        self.reply = reply
        self.delay = delay
        self.chunk_size = chunk_size
        self.calls = 0
        self.in_flight = 0
        self.peak = 0
        self.threads: set[int] = set()
        self.closed_streams = 0

    def _chunks(self, text: str) -> list[str]:
        return [text[i : i + self.chunk_size] for i in range(0, len(text), self.chunk_size)]

    def generate(self, prompt: str, sources: list[Source], policy: Policy, **options: Any) -> str:
        """Return the scripted reply."""
        self.calls += 1
        return self.reply(prompt, sources)

    def stream(
        self, prompt: str, sources: list[Source], policy: Policy, **options: Any
    ) -> Iterator[str]:
        """Yield the scripted reply in small chunks (splits fall inside markers)."""
        self.calls += 1
        try:
            yield from self._chunks(self.reply(prompt, sources))
        finally:
            self.closed_streams += 1

    async def agenerate(
        self, prompt: str, sources: list[Source], policy: Policy, **options: Any
    ) -> str:
        """Sleep on the event loop, then return the scripted reply."""
        self.calls += 1
        self.threads.add(threading.get_ident())
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            await asyncio.sleep(self.delay)
        finally:
            self.in_flight -= 1
        return self.reply(prompt, sources)

    async def astream(
        self, prompt: str, sources: list[Source], policy: Policy, **options: Any
    ) -> AsyncIterator[str]:
        """Yield chunks, awaiting the loop between them."""
        self.calls += 1
        self.threads.add(threading.get_ident())
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            for chunk in self._chunks(self.reply(prompt, sources)):
                await asyncio.sleep(self.delay)
                yield chunk
        finally:
            self.in_flight -= 1
            self.closed_streams += 1


class RecordingEventHandler(BaseEventHandler):
    """Keeps every instrumentation event it is handed."""

    events: list[BaseEvent] = Field(default_factory=list)

    @classmethod
    def class_name(cls) -> str:
        """Class name."""
        return "RecordingEventHandler"

    def handle(self, event: BaseEvent, **kwargs: Any) -> None:
        """Keep the event."""
        self.events.append(event)

    def of(self, name: str) -> list[Any]:
        """The events of one class, by ``class_name()``."""
        return [e for e in self.events if e.class_name() == name]


@pytest.fixture(autouse=True)
def _no_llamaindex_llm(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any test in which LlamaIndex resolves ``Settings.llm``."""

    def refuse(self: object) -> None:
        raise AssertionError("Settings.llm was resolved; the adapter must not need an LLM")

    monkeypatch.setattr(_Settings, "llm", property(refuse))


@pytest.fixture
def nodes() -> list[TextNode]:
    """The passages as TextNodes with fixed ids and metadata."""
    return [TextNode(id_=key, text=text, metadata=meta) for key, (text, meta) in PASSAGES.items()]


@pytest.fixture
def index(nodes: list[TextNode]) -> VectorStoreIndex:
    """A real in-memory VectorStoreIndex over the passages (deterministic embedding)."""
    return VectorStoreIndex(nodes, embed_model=HashingEmbedding())


@pytest.fixture
def make_backend() -> type[NativeAsyncBackend]:
    """The native-async backend class (build one per test with its own settings)."""
    return NativeAsyncBackend


@pytest.fixture(scope="session")
def _openai_server() -> Iterator[LoopbackServer]:
    server = LoopbackServer().start()
    yield server
    server.stop()


@pytest.fixture
def openai_server(_openai_server: LoopbackServer) -> Iterator[LoopbackServer]:
    """The loopback OpenAI server answering :func:`wire_answer` (3 chars per SSE chunk).

    Script it further with ``reset(responder, latency=...)``; reset after the test.
    """
    _openai_server.reset(openai_wire.answer(wire_answer, size=3))
    yield _openai_server
    _openai_server.reset(openai_wire.answer(wire_answer, size=3))


@pytest.fixture
def make_openai_backend(openai_server: LoopbackServer) -> Callable[..., OpenAIBackend]:
    """Builds ``OpenAIBackend`` (schema mode) on the loopback server; close it yourself."""

    def make(**kwargs: Any) -> OpenAIBackend:
        return OpenAIBackend(
            "gpt-test", api_key="sk-test", base_url=f"{openai_server.url}/v1", **kwargs
        )

    return make


@pytest.fixture
def answer() -> Callable[[str, list[Source]], str]:
    """The scripted answer function."""
    return scripted_answer


@pytest.fixture
def events() -> Iterator[RecordingEventHandler]:
    """A real event handler on LlamaIndex's root dispatcher (removed afterwards)."""
    root = get_dispatcher()
    handler = RecordingEventHandler()
    root.add_event_handler(handler)
    try:
        yield handler
    finally:
        root.event_handlers = [h for h in root.event_handlers if h is not handler]


@pytest.fixture
def spans() -> Iterator[SimpleSpanHandler]:
    """A real span handler on LlamaIndex's root dispatcher (removed afterwards)."""
    root = get_dispatcher()
    handler = SimpleSpanHandler()
    root.add_span_handler(handler)
    try:
        yield handler
    finally:
        root.span_handlers = [h for h in root.span_handlers if h is not handler]
