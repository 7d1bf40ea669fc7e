"""Shared pieces: a deterministic embedding, native-async backends, a small corpus.

The loopback OpenAI server is the repository's ``tests/loopback`` server: the
suite runs from the repository root (``python -m pytest --import-mode=importlib
integrations/langchain/tests``), so the root is on ``sys.path``.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import re
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any

import pytest
from citeformer import BackendText, CallInfo, Policy, Source, TokenUsage
from citeformer.backends.base import Backend
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.vectorstores import InMemoryVectorStore
from tests.loopback.server import LoopbackServer


class HashEmbeddings(Embeddings):
    """Bag-of-words hashed into 256 dimensions: deterministic, and similar texts score high."""

    dim = 256

    def _embed(self, text: str) -> list[float]:
        vector = [0.0] * self.dim
        for word in re.findall(r"[a-z0-9]+", text.lower()):
            slot = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=4).digest(), "big")
            vector[slot % self.dim] += 1.0
        norm = math.sqrt(sum(v * v for v in vector)) or 1.0
        return [v / norm for v in vector]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self._embed(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._embed(text)


def cite_first_sentence(question: str, sources: Sequence[Source]) -> str:
    """An answer that quotes the first source's first sentence and cites the first two."""
    first = sources[0].content.split(". ")[0].rstrip(".")
    second = f" See also [{min(2, len(sources))}]." if len(sources) > 1 else ""
    return f"{first} [1].{second}"


class NativeAsyncBackend(Backend):
    """A real backend with native ``agenerate``/``astream`` (``await asyncio.sleep``).

    Records what ran: sync calls, in-flight async calls (and the peak), the threads
    async calls ran on, and whether each stream was closed.
    """

    name = "native-async"

    def __init__(
        self,
        reply: Callable[[str, Sequence[Source]], str] = cite_first_sentence,
        *,
        latency: float = 0.0,
        chunk_size: int = 3,
        chunk_delay: float = 0.0,
    ) -> None:
        self.reply = reply
        self.latency = latency
        self.chunk_size = chunk_size
        self.chunk_delay = chunk_delay
        self.sync_calls = 0
        self.async_calls = 0
        self.in_flight = 0
        self.peak_in_flight = 0
        self.async_threads: set[int] = set()
        self.streams_opened = 0
        self.streams_closed = 0
        self.chunks_sent = 0
        self._lock = threading.Lock()

    def _info(self, text: str) -> CallInfo:
        return CallInfo(usage=TokenUsage(10, len(text.split())), finish_reason="stop")

    def generate(self, prompt: str, sources: list[Source], policy: Policy, **options: Any) -> str:
        with self._lock:
            self.sync_calls += 1
        text = self.reply(prompt, sources)
        return BackendText(text, self._info(text))

    def stream(
        self, prompt: str, sources: list[Source], policy: Policy, **options: Any
    ) -> Iterator[str]:
        with self._lock:
            self.sync_calls += 1
        text = self.reply(prompt, sources)
        for i in range(0, len(text), self.chunk_size):
            yield text[i : i + self.chunk_size]
        yield BackendText("", self._info(text))

    def _enter(self) -> None:
        self.async_calls += 1
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        self.async_threads.add(threading.get_ident())

    async def agenerate(
        self, prompt: str, sources: list[Source], policy: Policy, **options: Any
    ) -> str:
        self._enter()
        try:
            await asyncio.sleep(self.latency)
            text = self.reply(prompt, sources)
            return BackendText(text, self._info(text))
        finally:
            self.in_flight -= 1

    async def astream(
        self, prompt: str, sources: list[Source], policy: Policy, **options: Any
    ) -> AsyncIterator[str]:
        self._enter()
        self.streams_opened += 1
        try:
            await asyncio.sleep(self.latency)
            text = self.reply(prompt, sources)
            for i in range(0, len(text), self.chunk_size):
                await asyncio.sleep(self.chunk_delay)
                self.chunks_sent += 1
                yield text[i : i + self.chunk_size]
            yield BackendText("", self._info(text))
        finally:
            self.in_flight -= 1
            self.streams_closed += 1


CORPUS = [
    Document(
        "The Eiffel Tower is 330 metres tall. It was finished in 1889.",
        id="eiffel",
        metadata={"title": "Eiffel Tower", "url": "https://example.org/eiffel", "year": 2021},
    ),
    Document(
        "Mount Everest is the highest mountain above sea level. It lies in the Himalayas.",
        id="everest",
        metadata={"title": "Mount Everest", "source": "https://example.org/everest"},
    ),
    Document(
        "The Amazon is the largest rainforest on Earth. It spans nine countries.",
        id="amazon",
        metadata={"title": "Amazon rainforest", "author": "A. Writer"},
    ),
    Document(
        "Python is a programming language created by Guido van Rossum. It was released in 1991.",
        id="python",
        metadata={"title": "Python (language)", "date": "1991-02-20"},
    ),
    Document(
        "The Great Wall of China is thousands of kilometres long. It was built over centuries.",
        id="wall",
        metadata={"title": "Great Wall"},
    ),
]


@pytest.fixture
def corpus() -> list[Document]:
    return list(CORPUS)


@pytest.fixture
def vectorstore(corpus: list[Document]) -> InMemoryVectorStore:
    store = InMemoryVectorStore(HashEmbeddings())
    store.add_documents(corpus)
    return store


@pytest.fixture
def native_backend_cls() -> type[NativeAsyncBackend]:
    return NativeAsyncBackend


@pytest.fixture(scope="session")
def _loopback_server() -> Iterator[LoopbackServer]:
    server = LoopbackServer().start()
    yield server
    server.stop()


@pytest.fixture
def loopback(_loopback_server: LoopbackServer) -> Iterator[LoopbackServer]:
    """The loopback OpenAI server, reset for this test (script it with ``reset``)."""
    _loopback_server.reset()
    yield _loopback_server
    _loopback_server.reset()
