"""Stream an answer, rendering citations as they resolve (sync and async)."""

from __future__ import annotations

import asyncio

from citeformer import CitationEvent, Citeformer, Completed, MockBackend, Source, TextDelta

SOURCES = [
    Source("Water boils at 100 degrees Celsius at sea level.", {"title": "Boiling point"}),
    Source("At higher altitude the boiling point of water drops.", {"title": "Altitude"}),
]
ANSWER = "Water boils at 100 °C at sea level [1], but lower up a mountain [2]. Not [3]."


def sync_demo(cf: Citeformer) -> None:
    stream = cf.stream("When does water boil?", SOURCES)
    for event in stream.events():
        if isinstance(event, TextDelta):
            print(event.text, end="", flush=True)
        elif isinstance(event, CitationEvent):
            print(f"<cite {event.citation.source_id}>", end="")
        elif isinstance(event, Completed):
            print(
                f"\n{len(event.result.citations)} citations, "
                f"{len(event.result.invalid_markers)} marker removed"
            )


async def async_demo(cf: Citeformer) -> None:
    stream = cf.astream("When does water boil?", SOURCES)
    async for chunk in stream:
        print(chunk, end="", flush=True)
    result = await stream.finalize()
    print(f"\ncited: {result.cited_ids}")


if __name__ == "__main__":
    citeformer = Citeformer(MockBackend(ANSWER, chunks=3))
    sync_demo(citeformer)
    asyncio.run(async_demo(citeformer))
