"""The contract test every backend's tests subclass (ARCHITECTURE principle 10).

A subclass provides ``make_backend`` (a backend that answers the scripted
question about ``SOURCES``) and may tune ``options`` (extra call options such as
``temperature=0``). The tests check the Backend contract through the orchestrator:
the four entry points agree, ids stay in range, bad input is rejected before the
backend runs, per-call facts stay per call, and cancellation is clean.
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

import pytest

from citeformer import Citeformer, InvalidSourceError, Source
from citeformer.backends.base import Backend, call_info

SOURCES = [
    Source("The Eiffel Tower is 330 metres tall and stands in Paris.", {"title": "Eiffel Tower"}),
    Source("The Colosseum in Rome held about 50,000 spectators.", {"title": "Colosseum"}),
    Source("Big Ben is the nickname of the bell in the Elizabeth Tower.", {"title": "Big Ben"}),
]
QUESTION = "How tall is the Eiffel Tower?"


class BackendConformance:
    """Subclass and implement :meth:`make_backend`."""

    options: ClassVar[dict[str, Any]] = {}

    def make_backend(self) -> Backend:
        raise NotImplementedError

    @pytest.fixture
    def cf(self) -> Citeformer:
        # Not closed here: make_backend may hand out a shared backend (a session's
        # engine); the async tests close what belongs to their own event loop.
        return Citeformer(self.make_backend())

    def test_four_entry_points_agree(self, cf: Citeformer) -> None:
        expected = cf.generate(QUESTION, SOURCES, **self.options)
        stream = cf.stream(QUESTION, SOURCES, **self.options)
        assert "".join(stream) == expected.text
        assert stream.finalize().citations == expected.citations

        async def run() -> tuple[str, Any, str, Any]:
            a = await cf.agenerate(QUESTION, SOURCES, **self.options)
            s = cf.astream(QUESTION, SOURCES, **self.options)
            text = "".join([c async for c in s])
            final = await s.finalize()
            await cf.aclose()  # the async client belongs to this asyncio.run loop
            return a.text, a.citations, text, final.citations

        a_text, a_cites, s_text, s_cites = asyncio.run(run())
        assert a_text == s_text == expected.text
        assert a_cites == s_cites == expected.citations

    def test_citations_point_at_supplied_sources(self, cf: Citeformer) -> None:
        result = cf.generate(QUESTION, SOURCES, **self.options)
        assert all(1 <= c.source_id <= len(SOURCES) for c in result.citations)
        for c in result.citations:
            assert result.text[c.start : c.end] == c.marker

    def test_empty_sources_rejected_before_the_backend_runs(self, cf: Citeformer) -> None:
        with pytest.raises(InvalidSourceError):
            cf.generate(QUESTION, [], **self.options)

    def test_backend_output_is_a_str_with_per_call_info(self) -> None:
        backend = self.make_backend()
        from citeformer import Policy

        out = backend.generate(QUESTION, SOURCES, Policy.AUTO, **self.options)
        assert isinstance(out, str)
        assert call_info(out) is not call_info(backend.generate(QUESTION, SOURCES, Policy.AUTO))

    def test_cancelled_astream_leaves_no_pending_tasks(self, cf: Citeformer) -> None:
        async def run() -> set[asyncio.Task[Any]]:
            async def consume() -> None:
                async for _ in cf.astream(QUESTION, SOURCES, **self.options):
                    await asyncio.sleep(0)

            task = asyncio.create_task(consume())
            await asyncio.sleep(0)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await asyncio.sleep(0.05)
            pending = asyncio.all_tasks() - {asyncio.current_task()}  # type: ignore[operator]
            await cf.aclose()
            return pending

        assert asyncio.run(run()) == set()
