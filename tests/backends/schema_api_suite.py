"""The schema tier's tests, on top of the suite every API backend runs.

:class:`SchemaApiSuite` is :class:`~tests.backends.api_suite.ApiSuite` for a backend
that sends the citation schema as the response format and reads the answer back as
JSON segments: prose markers and ids outside the schema's enum never become
citations, the policy reaches the schema, and a server that ignored the JSON mode
is a typed error. Its answers are JSON segment documents (:data:`DOC` is the
standard one); a subclass adds ``schema_of`` (where the citation schema is in a
request body) to :class:`ApiSuite`'s hooks.
"""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

from citeformer import Citeformer, Policy, StreamInterruptedError
from citeformer.backends.retry import RetryPolicy
from citeformer.errors import BackendError
from citeformer.testing import QUESTION, SOURCES
from tests.backends.api_suite import ApiSuite, arun
from tests.loopback.openai_wire import segments
from tests.loopback.server import LoopbackServer, Received

__all__ = ["DOC", "SchemaApiSuite"]

DOC = segments(
    ("The Eiffel Tower is 330 metres tall.", [1]),
    ("It stands in Paris, unlike the Colosseum.", [1, 2]),
)


class SchemaApiSuite(ApiSuite, suite=True):
    """Subclass, set :class:`ApiSuite`'s class attributes and implement the hooks."""

    answer: ClassVar[Any] = DOC

    def scripted(self, n: int) -> Any:
        return self.wire.segments((f"Answer {n}.", [n % 3 + 1]))

    def schema_of(self, request: Received) -> dict[str, Any]:
        """The citation JSON schema in a request body."""
        raise NotImplementedError

    def test_prose_markers_and_ids_outside_the_enum_never_become_citations(
        self, loopback: LoopbackServer
    ) -> None:
        # A model writing "[9]" in prose, and a server ignoring the schema's enum.
        wire = self.wire
        lying = wire.segments(("The tower is tall [9].", [9]), ("It is in Paris [3].", [1, 4, 0]))
        loopback.reset(wire.answer(lying))
        backend = self.make_backend()
        cf = Citeformer(backend)
        for result in (
            cf.generate(QUESTION, SOURCES),
            cf.stream(QUESTION, SOURCES).finalize(),
            arun(backend, cf.agenerate(QUESTION, SOURCES)),
        ):
            assert result.text == "The tower is tall. It is in Paris [1]."
            assert [c.source_id for c in result.citations] == [1]
            assert sorted(m.text for m in result.invalid_markers) == ["[0]", "[4]", "[9]"]
            assert {m.reason for m in result.invalid_markers} == {"not_in_schema"}
        backend.close()

    def test_policy_argument_reaches_the_schema(self, loopback: LoopbackServer) -> None:
        loopback.reset(self.wire.answer(self.wire.segments(("Tall.", [1]))))
        backend = self.make_backend()
        Citeformer(backend).generate(QUESTION, SOURCES, policy=Policy.REQUIRED)
        schema = self.schema_of(loopback.requests[0])
        segment = schema["properties"]["segments"]["items"]["properties"]
        assert segment["citations"]["minItems"] == 1
        assert segment["citations"]["items"]["enum"] == [1, 2, 3]
        backend.close()

    @pytest.mark.parametrize(
        "content",
        [
            "The tower is 330 metres tall [9].",  # the server ignored the JSON mode: prose
            '{"segments": [{"text": "Tall", "citations": [1]}, oops',  # broken JSON
        ],
        ids=["prose", "broken"],
    )
    def test_content_that_is_not_json_is_a_typed_error(
        self, loopback: LoopbackServer, content: str
    ) -> None:
        backend = self.make_backend(retry=RetryPolicy.none())
        cf = Citeformer(backend)
        loopback.reset(self.wire.answer(content))
        with pytest.raises(BackendError, match="not valid JSON"):
            cf.generate(QUESTION, SOURCES)
        # A stream fails where the JSON breaks: after the text before it, if any.
        with pytest.raises((BackendError, StreamInterruptedError), match="not valid JSON"):
            list(cf.stream(QUESTION, SOURCES))
        backend.close()
