"""Citeformer results mapped back onto LlamaIndex nodes and ``Response.metadata``.

``Response.metadata`` of a cited answer holds (keys are module constants):

==========================  ================================================================
``citations``               one dict per (marker, id), in text order: ``node_id``,
                            ``source_id``, ``marker``, ``start``/``end`` (marker span in the
                            answer), ``cited_text``, ``source_start``/``source_end`` (where
                            the backend reports the supporting passage)
``cited_node_ids``          distinct cited node ids, in order of first citation
``cited_source_nodes``      the matching ``NodeWithScore`` objects, same order
``references``              rendered bibliography entries (``source_id``, ``node_id``,
                            ``text``, ``style``; ``source_ids``/``node_ids``: every cited
                            node of the entry's document), ordered as the style orders
                            them; nodes of one document share an entry
``citeformer_result``       the full :class:`citeformer.GenerationResult`
``node_metadata``           ``{node_id: node.metadata}`` of every source node (what
                            LlamaIndex's own synthesizers put in ``metadata``)
``verification``            only with ``verify=``: the
                            :class:`citeformer.verify.VerificationReport` itself
                            (``to_dict()`` for its JSON form)
==========================  ================================================================

On a streamed response the citation keys are filled in when the stream ends; until
then ``citeformer_result`` (and ``verification``) is ``None`` and the lists are empty.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from llama_index.core.schema import NodeWithScore

from citeformer import Citation, GenerationResult, Source
from citeformer.verify import VerificationReport

if TYPE_CHECKING:
    from llama_index.response_synthesizers.citeformer.verification import Verifier

CITATIONS = "citations"
CITED_NODE_IDS = "cited_node_ids"
CITED_SOURCE_NODES = "cited_source_nodes"
REFERENCES = "references"
RESULT = "citeformer_result"
NODE_METADATA = "node_metadata"
VERIFICATION = "verification"
"""Metadata key of the verification report (present only when the call verifies)."""
STREAM = "citeformer_stream"
"""Metadata key of the typed event stream on streamed responses (see ``stream_events``)."""


@dataclass(frozen=True, slots=True)
class NodeCitation:
    """One citation resolved to the retrieved node it points at.

    Attributes:
        node_id: Id of the cited node.
        source_id: The number in the marker (1-based position in the retrieved list).
        start: Offset of the marker's first character in the answer.
        end: Offset just past the marker.
        marker: The marker text as it appears in the answer.
        cited_text: The supporting passage, where the backend reports one.
        source_start: Offset of ``cited_text`` in the node's text, where known.
        source_end: Offset just past it, where known.
        score: The node's retrieval score.
    """

    node_id: str
    source_id: int
    start: int
    end: int
    marker: str
    cited_text: str | None = None
    source_start: int | None = None
    source_end: int | None = None
    score: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-compatible dict of the fields."""
        return {
            "node_id": self.node_id,
            "source_id": self.source_id,
            "start": self.start,
            "end": self.end,
            "marker": self.marker,
            "cited_text": self.cited_text,
            "source_start": self.source_start,
            "source_end": self.source_end,
            "score": self.score,
        }


class CitedCall:
    """One synthesis call: the numbered nodes, their sources, the response metadata.

    Built per call (never stored on the synthesizer), so concurrent queries on one
    synthesizer cannot see each other's nodes.

    Args:
        nodes: The numbered nodes (``nodes[i]`` is source ``i + 1``).
        sources: The citeformer sources built from ``nodes``.
        additional_source_nodes: Extra nodes for ``Response.source_nodes``; never cited.
        verifier: Verifies the answer once complete (the metadata then has a
            ``verification`` key, ``None`` until the report is known); ``None``: the
            call does not verify.
    """

    def __init__(
        self,
        nodes: Sequence[NodeWithScore],
        sources: Sequence[Source],
        additional_source_nodes: Sequence[NodeWithScore] = (),
        *,
        verifier: Verifier | None = None,
    ) -> None:
        self.nodes: tuple[NodeWithScore, ...] = tuple(nodes)
        self.sources: list[Source] = list(sources)
        self.source_nodes: list[NodeWithScore] = [*self.nodes, *additional_source_nodes]
        self.metadata: dict[str, Any] = {
            CITATIONS: [],
            CITED_NODE_IDS: [],
            CITED_SOURCE_NODES: [],
            REFERENCES: [],
            RESULT: None,
            NODE_METADATA: {n.node.node_id: n.node.metadata for n in self.source_nodes},
        }
        self.verifier = verifier
        if verifier is not None:
            self.metadata[VERIFICATION] = None

    def node(self, source_id: int) -> NodeWithScore:
        """The node cited as ``source_id`` (1-based)."""
        return self.nodes[source_id - 1]

    def resolve(self, citation: Citation) -> NodeCitation:
        """Attach the cited node's id and score to a citeformer citation."""
        cited = self.node(citation.source_id)
        return NodeCitation(
            node_id=cited.node.node_id,
            source_id=citation.source_id,
            start=citation.start,
            end=citation.end,
            marker=citation.marker,
            cited_text=citation.cited_text,
            source_start=citation.source_start,
            source_end=citation.source_end,
            score=cited.score,
        )

    def complete(self, result: GenerationResult) -> list[NodeCitation]:
        """Fill the response metadata from the final result; return the citations."""
        resolved = [self.resolve(c) for c in result.citations]
        cited = [self.node(i) for i in result.cited_ids]
        metadata = self.metadata
        metadata[CITATIONS] = [c.to_dict() for c in resolved]
        metadata[CITED_NODE_IDS] = [n.node.node_id for n in cited]
        metadata[CITED_SOURCE_NODES] = cited
        metadata[REFERENCES] = [
            {
                "source_id": r.source_id,
                "node_id": self.node(r.source_id).node.node_id,
                "source_ids": list(r.source_ids),
                "node_ids": [self.node(i).node.node_id for i in r.source_ids],
                "text": r.text,
                "style": r.style,
            }
            for r in result.references
        ]
        metadata[RESULT] = result
        return resolved


_EMPTY: Mapping[str, Any] = {CITATIONS: (), CITED_SOURCE_NODES: (), RESULT: None}


def _unwrap(response: object) -> object:
    """A chat engine's response: the cited ``Response`` its query engine tool returned.

    Chat engines (``CondenseQuestionChatEngine``, ``CiteformerChatEngine``, agents)
    keep the query engine's ``Response`` as a tool output's ``raw_output``; the last
    one from ``CiteformerSynthesizer`` is the answer's.
    """
    sources = getattr(response, "sources", None)
    if not isinstance(sources, Sequence) or isinstance(sources, str):
        return response
    for output in reversed(sources):
        raw = getattr(output, "raw_output", None)
        metadata = getattr(raw, "metadata", None)
        if isinstance(metadata, Mapping) and NODE_METADATA in metadata:
            return raw
    own = getattr(response, "metadata", None)
    if isinstance(own, Mapping) and NODE_METADATA in own:
        return response
    raise TypeError(
        f"{type(response).__name__} holds no response from CiteformerSynthesizer (none of "
        "its sources' raw_output came from it); the chat engine answered without citing"
    )


def _metadata(response: object) -> Mapping[str, Any]:
    response = _unwrap(response)
    metadata = getattr(response, "metadata", None)
    if metadata is None and hasattr(response, "source_nodes"):
        return _EMPTY  # LlamaIndex's empty response (nothing retrieved)
    if not isinstance(metadata, Mapping) or NODE_METADATA not in metadata:
        raise TypeError(
            f"{type(response).__name__} was not produced by CiteformerSynthesizer; "
            "its metadata has no citeformer citations"
        )
    return metadata


def citations(response: object) -> list[NodeCitation]:
    """The citations of a response as typed values (empty until a stream ends).

    An empty response (nothing retrieved, ``metadata`` is ``None``) has none. A chat
    engine's response is unwrapped to the query engine's cited ``Response`` (this and
    the other readers below).

    Raises:
        TypeError: The response did not come from ``CiteformerSynthesizer``.
    """
    return [NodeCitation(**c) for c in _metadata(response)[CITATIONS]]


def cited_source_nodes(response: object) -> list[NodeWithScore]:
    """The nodes the answer cites, in order of first citation.

    Raises:
        TypeError: The response did not come from ``CiteformerSynthesizer``.
    """
    return list(_metadata(response)[CITED_SOURCE_NODES])


def generation_result(response: object) -> GenerationResult | None:
    """The full citeformer result (``None`` until a streamed response ends).

    Raises:
        TypeError: The response did not come from ``CiteformerSynthesizer``.
    """
    result = _metadata(response)[RESULT]
    return result if isinstance(result, GenerationResult) else None


def verification_report(response: object) -> VerificationReport | None:
    """The verification report of a response made with ``verify=``.

    Returns:
        The report; ``None`` when the call did not verify, on an empty response, and
        on a streamed response until its stream ends.

    Raises:
        TypeError: The response did not come from ``CiteformerSynthesizer``.
    """
    report = _metadata(response).get(VERIFICATION)
    if isinstance(report, Mapping):  # a copied or stored JSON form
        return VerificationReport.from_dict(report)
    return report if isinstance(report, VerificationReport) else None
