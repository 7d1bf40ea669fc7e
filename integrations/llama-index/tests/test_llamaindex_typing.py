"""A user's code built from this package's README passes ``mypy --strict`` with precise types.

``USAGE`` makes the README's calls (the constructors, ``query``/``aquery``, the chat
engine, ``citations()`` and the other readers) and pins the types a user relies on
with ``assert_type`` (an ``Any`` would fail it); it must type-check with no error.
``MISTAKES``, checked by the same command, proves the check can fail: each line
marked ``# error`` must be reported, and nothing else may be.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
PACKAGE = ROOT / "integrations" / "llama-index"

USAGE = """
import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import assert_type

from citeformer import Citeformer, GenerationResult, MockBackend, Source
from citeformer.verify import LexicalScorer, VerificationReport
from llama_index.core import Document, VectorStoreIndex
from llama_index.core.base.response.schema import (
    RESPONSE_TYPE,
    AsyncStreamingResponse,
    StreamingResponse,
)
from llama_index.core.chat_engine.types import AgentChatResponse, StreamingAgentChatResponse
from llama_index.core.query_engine import RetrieverQueryEngine
from llama_index.core.schema import NodeWithScore, TextNode

from llama_index.response_synthesizers.citeformer import (
    CitationChunker,
    CiteformerChatEngine,
    CiteformerSynthesizer,
    HashingEmbedding,
    NodeCitation,
    NodeStreamEvent,
    citation_query_engine,
    citations,
    cited_source_nodes,
    generation_result,
    nodes_to_sources,
    stream_events,
    verification_report,
)

documents = [
    Document(text="Paris is the capital of France.", metadata={"title": "France"}),
    Document(text="Berlin is the capital of Germany.", metadata={"title": "Germany"}),
]
index = VectorStoreIndex.from_documents(documents, embed_model=HashingEmbedding())
backend = MockBackend("Paris is the capital [1].")
engine = citation_query_engine(index, Citeformer(backend), similarity_top_k=1)
assert_type(engine, RetrieverQueryEngine)
chunked = citation_query_engine(
    index, Citeformer(backend), citation_chunk_size=256, similarity_top_k=3, verify=True
)
synth = CiteformerSynthesizer(Citeformer(backend), verify=LexicalScorer(), streaming=False)
assert_type(synth, CiteformerSynthesizer)
CiteformerSynthesizer(backend, verify=lambda premise, hypothesis: 1.0, policy="required")
RetrieverQueryEngine(index.as_retriever(), response_synthesizer=synth)
assert_type(CitationChunker(chunk_size=256, chunk_overlap=20), CitationChunker)
sources = nodes_to_sources([TextNode(text="Paris.")])
assert_type(sources, list[Source])

response = engine.query("What is the capital of France?")
assert_type(response, RESPONSE_TYPE)
assert_type(citations(response), list[NodeCitation])
assert_type(cited_source_nodes(response), list[NodeWithScore])
assert_type(generation_result(response), GenerationResult | None)
assert_type(verification_report(response), VerificationReport | None)
print(citations(response)[0].source_id, cited_source_nodes(response)[0].node.get_content())

streamed = citation_query_engine(index, Citeformer(backend), streaming=True).query("Capital?")
if isinstance(streamed, StreamingResponse):
    assert_type(stream_events(streamed), Iterator[NodeStreamEvent])

chat = CiteformerChatEngine.from_index(index, Citeformer(backend), similarity_top_k=3)
assert_type(chat, CiteformerChatEngine)
retriever_chat = CiteformerChatEngine(index.as_retriever(), Citeformer(backend), verify=True)
reply = chat.chat("What is the capital of France?")
assert_type(reply, AgentChatResponse)
assert_type(citations(reply), list[NodeCitation])
assert_type(chat.stream_chat("And Germany?"), StreamingAgentChatResponse)
chat.reset()


async def main() -> None:
    answer = await engine.aquery("What is the capital of France?")
    assert_type(answer, RESPONSE_TYPE)
    print(citations(answer)[0].node_id)
    achat = await retriever_chat.achat("Capital?")
    assert_type(achat, AgentChatResponse)
    assert_type(await chat.astream_chat("Capital?"), StreamingAgentChatResponse)
    ever = await citation_query_engine(index, backend, streaming=True).aquery("Capital?")
    if isinstance(ever, AsyncStreamingResponse):
        assert_type(stream_events(ever), AsyncIterator[NodeStreamEvent])


asyncio.run(main())
"""

MISTAKES = """
from citeformer import Citeformer, MockBackend
from llama_index.core import Document, VectorStoreIndex

from llama_index.response_synthesizers.citeformer import (
    CitationChunker,
    CiteformerChatEngine,
    CiteformerSynthesizer,
    HashingEmbedding,
    citation_query_engine,
    citations,
)

index = VectorStoreIndex.from_documents([Document(text="x")], embed_model=HashingEmbedding())
cf = Citeformer(MockBackend("x [1]."))
CiteformerSynthesizer(cf, streaming="yes")  # error
CiteformerSynthesizer(cf, verify="nli")  # error
citation_query_engine(index, cf, citation_chunk_size="256")  # error
CitationChunker(chunk_size="256")  # error
CiteformerChatEngine.from_index(index, cf, similarity_top_k="3")  # error
CiteformerChatEngine(index.as_retriever(), cf, streaming=True)  # error
CiteformerChatEngine(index.as_retriever(), cf, verify="nli")  # error
count: int = citations(citation_query_engine(index, cf).query("x"))  # error
"""


def _mypy(path: Path) -> subprocess.CompletedProcess[str]:
    """``mypy --strict`` on one file, as the package itself is checked (same flags)."""
    # citeformer's editable install is an import hook mypy cannot follow: the root goes
    # on MYPYPATH with the adapter's source. cwd=ROOT picks up the repository's mypy
    # settings; its cache is shared with `make typecheck` (LlamaIndex is analysed once).
    env = {**os.environ, "MYPYPATH": os.pathsep.join([str(ROOT), str(PACKAGE)])}
    command = [sys.executable, "-m", "mypy", "--strict", "--explicit-package-bases"]
    return subprocess.run(
        [*command, "--cache-dir", str(ROOT / ".mypy_cache"), "--no-error-summary", str(path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )


@pytest.mark.timeout(300)
def test_readme_code_type_checks_strictly_and_mistakes_are_reported(tmp_path: Path) -> None:
    usage = tmp_path / "usage.py"
    usage.write_text(USAGE, encoding="utf-8")
    run = _mypy(usage)
    assert run.returncode == 0, run.stdout + run.stderr

    mistakes = tmp_path / "mistakes.py"
    mistakes.write_text(MISTAKES, encoding="utf-8")
    run = _mypy(mistakes)
    errors = [line for line in run.stdout.splitlines() if ": error:" in line]
    expected = {
        number
        for number, line in enumerate(MISTAKES.splitlines(), start=1)
        if line.endswith("# error")
    }
    reported = {int(line.split(":")[1]) for line in errors if _file(line) == "mistakes.py"}
    unexpected = [line for line in errors if _file(line) != "mistakes.py"]
    assert run.returncode == 1, run.stdout + run.stderr
    assert not unexpected, run.stdout + run.stderr
    assert reported == expected, run.stdout + run.stderr


def _file(line: str) -> str:
    return Path(line.split(":")[0]).name
