"""Stream cited answers from an async web handler (aiohttp), on loopback.

``POST /ask`` with ``{"question": ...}`` answers as NDJSON while the model writes:
``{"type": "text"}`` lines carry answer text (never half a marker), and a
``{"type": "citation"}`` line follows each marker as soon as it resolves, with
the document it points at. The handler reads ``astream_events`` of an LCEL chain
(retriever -> CiteformerRunnable), so retrieval and citations arrive on one
stream; a client disconnect cancels the handler and closes the model stream.

The model is a small native-async backend that "types" a scripted answer with
``await asyncio.sleep`` between chunks: runs offline, no threads involved.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import ClientSession, web
from langchain_citeformer import CITATION_EVENT, CiteformerRunnable
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever

from citeformer import Policy, Source
from citeformer.backends.base import Backend

DOCUMENTS = [
    Document(
        "Water boils at 100 degrees Celsius at sea level.",
        id="boiling",
        metadata={"title": "Boiling point", "url": "https://example.org/boiling"},
    ),
    Document(
        "At higher altitude the air pressure is lower, so water boils at a lower temperature.",
        id="altitude",
        metadata={"title": "Altitude cooking", "url": "https://example.org/altitude"},
    ),
]


class KeywordRetriever(BaseRetriever):
    """Returns the documents sharing a word with the question (all, if none does)."""

    documents: list[Document]

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        words = set(query.lower().split())
        hits = [d for d in self.documents if words & set(d.page_content.lower().split())]
        return hits or list(self.documents)


class TypingBackend(Backend):
    """A native-async backend that types a scripted answer, a few characters at a time."""

    name = "typing"
    answer = "Water boils at 100 °C at sea level [1], and at a lower temperature up a mountain [2]."

    def generate(self, prompt: str, sources: list[Source], policy: Policy, **options: Any) -> str:
        return self.answer

    async def agenerate(
        self, prompt: str, sources: list[Source], policy: Policy, **options: Any
    ) -> str:
        await asyncio.sleep(0.01)
        return self.answer

    async def astream(
        self, prompt: str, sources: list[Source], policy: Policy, **options: Any
    ) -> AsyncIterator[str]:
        for i in range(0, len(self.answer), 4):
            await asyncio.sleep(0.005)
            yield self.answer[i : i + 4]


CHAIN = CiteformerRunnable.from_retriever(
    KeywordRetriever(documents=DOCUMENTS), TypingBackend(), output="str"
)


async def ask(request: web.Request) -> web.StreamResponse:
    """Stream the cited answer to one question as NDJSON."""
    question = (await request.json())["question"]
    response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
    await response.prepare(request)
    started = time.perf_counter()
    async for event in CHAIN.astream_events(question, version="v2"):
        line: dict[str, Any] | None = None
        if event["event"] == "on_chain_stream" and event["name"] == "Citeformer":
            line = {"type": "text", "text": event["data"]["chunk"]}
        elif event["event"] == "on_custom_event" and event["name"] == CITATION_EVENT:
            annotation = event["data"]
            line = {
                "type": "citation",
                "marker": annotation["extras"]["marker"],
                "document": annotation["extras"]["document_id"],
                "title": annotation.get("title"),
                "url": annotation.get("url"),
            }
        if line is not None:
            line["ms"] = round((time.perf_counter() - started) * 1000)
            await response.write(json.dumps(line).encode() + b"\n")
    await response.write_eof()
    return response


async def main() -> None:
    app = web.Application()
    app.router.add_post("/ask", ask)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    print(f"serving on http://127.0.0.1:{port}/ask")
    try:
        async with ClientSession() as session:
            question = {"question": "When does water boil at altitude?"}
            async with session.post(f"http://127.0.0.1:{port}/ask", json=question) as reply:
                text = ""
                async for raw in reply.content:
                    line = json.loads(raw)
                    if line["type"] == "text":
                        text += line["text"]
                        print(f"{line['ms']:>4} ms  text      {line['text']!r}")
                    else:
                        print(
                            f"{line['ms']:>4} ms  citation  {line['marker']} -> "
                            f"{line['document']} ({line['title']}, {line['url']})"
                        )
        print("answer:", text)
    finally:
        await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(main())
