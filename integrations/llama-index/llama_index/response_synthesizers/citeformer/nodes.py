"""Retrieved nodes to citeformer sources: text as evidence, node metadata as CSL-JSON.

The i-th retrieved node becomes ``Source`` i + 1, so a marker ``[i + 1]`` in the answer
points at ``nodes[i]``. Nodes of one document (the same ``ref_doc_id``, or sub-chunks
of one retrieved node) are parts of one ``Source.document``: each stays its own
citable id and the bibliography lists the document once, with ``start_char_idx`` as
the part's offset into it. Only the mapping lives here; the citation language,
validation and bibliography rendering are citeformer's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from llama_index.core.schema import BaseNode, MetadataMode, NodeWithScore, TextNode

from citeformer import InvalidSourceError, Source

NodeToCSL = Callable[[NodeWithScore], Mapping[str, Any]]
"""Builds a source's CSL-JSON metadata from a retrieved node."""

# Common LlamaIndex metadata names (readers, loaders, users) -> CSL variable.
# The first key present wins; citeformer's renderer coerces shapes (names, dates).
_CSL_KEYS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("title", ("title", "document_title", "doc_title", "file_name", "filename")),
    ("author", ("author", "authors", "creator")),
    ("issued", ("issued", "date", "year", "published", "publication_date", "creation_date")),
    ("URL", ("URL", "url", "source_url", "link", "href")),
    ("DOI", ("DOI", "doi")),
    ("container-title", ("container-title", "container_title", "journal", "venue", "site")),
    ("publisher", ("publisher",)),
    ("page", ("page", "page_label")),
    ("type", ("type", "csl_type")),
)
_URL_PREFIXES = ("http://", "https://")
_ALIASES: dict[str, tuple[str, int]] = {
    alias: (csl_key, rank) for csl_key, aliases in _CSL_KEYS for rank, alias in enumerate(aliases)
}
"""Metadata name -> (CSL variable, rank among that variable's names); built once."""
_EMPTY_VALUES: tuple[Any, ...] = (None, "", [], {})


def default_node_to_csl(node_with_score: NodeWithScore) -> dict[str, Any]:
    """Map a node's metadata to CSL-JSON for the bibliography.

    A ``csl`` mapping in the node metadata is used as-is (and wins); otherwise common
    LlamaIndex keys are mapped (``title``/``file_name`` -> ``title``,
    ``author(s)`` -> ``author``, ``date``/``year`` -> ``issued``, ``url`` -> ``URL``,
    ``doi`` -> ``DOI``, ``page_label`` -> ``page``...). A ``source`` value that is an
    http(s) address becomes the ``URL``. The node id becomes the CSL ``id``.

    Args:
        node_with_score: A retrieved node.

    Returns:
        A new CSL-JSON dict (never the node's own metadata object).
    """
    node = node_with_score.node
    metadata: Mapping[str, Any] = node.metadata or {}
    # One pass over the node's (few) metadata keys; the lowest-ranked name wins.
    found: dict[str, tuple[int, Any]] = {}
    for key, value in metadata.items():
        alias = _ALIASES.get(key)
        if alias is None or value in _EMPTY_VALUES:
            continue
        csl_key, rank = alias
        if csl_key not in found or rank < found[csl_key][0]:
            found[csl_key] = (rank, value)
    csl: dict[str, Any] = {k: found[k][1] for k, _ in _CSL_KEYS if k in found}
    source = metadata.get("source")
    if "URL" not in csl and isinstance(source, str) and source.startswith(_URL_PREFIXES):
        csl["URL"] = source
    given = metadata.get("csl")
    if isinstance(given, Mapping):
        csl.update(given)
    csl.setdefault("id", node.node_id)
    return csl


def node_text(node_with_score: NodeWithScore, position: int, metadata_mode: MetadataMode) -> str:
    """The evidence text of a retrieved node.

    Args:
        node_with_score: The node.
        position: Its index in the retrieved list (for the error message).
        metadata_mode: What node metadata to include in the text (``NONE`` keeps
            citeformer's ``source_start``/``source_end`` offsets aligned with
            ``node.text``).

    Raises:
        InvalidSourceError: The node has no text to cite.
    """
    content = node_with_score.node.get_content(metadata_mode=metadata_mode)
    if not isinstance(content, str) or not content.strip():
        node = node_with_score.node
        raise InvalidSourceError(
            f"retrieved node {position} (id {node.node_id!r}, {type(node).__name__}) has no "
            "text to cite; citeformer cites text passages. Drop text-less nodes before "
            "synthesis (for example with a node postprocessor) or give them text."
        )
    return content


def nodes_to_sources(
    nodes: Sequence[NodeWithScore | BaseNode],
    *,
    metadata_mode: MetadataMode = MetadataMode.NONE,
    node_to_csl: NodeToCSL = default_node_to_csl,
) -> list[Source]:
    """Number retrieved nodes as citeformer sources (``nodes[i]`` is source ``i + 1``).

    Args:
        nodes: The retrieved nodes, in the order the retriever returned them
            (``NodeWithScore``, or bare nodes such as ``TextNode``).
        metadata_mode: What node metadata to include in each source's text.
        node_to_csl: Builds each source's CSL-JSON metadata.

    Raises:
        InvalidSourceError: An item is not a ``NodeWithScore``, has no text, or its
            CSL metadata is not a mapping.
    """
    sources: list[Source] = []
    for position, given in enumerate(nodes):
        item = NodeWithScore(node=given) if isinstance(given, BaseNode) else given
        if not isinstance(item, NodeWithScore):
            raise InvalidSourceError(
                f"nodes[{position}] is a {type(item).__name__}; pass the retriever's "
                "NodeWithScore list or LlamaIndex nodes (TextNode)"
            )
        metadata = node_to_csl(item)
        if not isinstance(metadata, Mapping):
            raise InvalidSourceError(
                f"node_to_csl returned a {type(metadata).__name__} for node "
                f"{item.node.node_id!r}; it must return a CSL-JSON mapping"
            )
        text = node_text(item, position, metadata_mode)
        key, start = node_document(item.node)
        # Offsets into the document hold for the node's text alone, not with metadata.
        if metadata_mode != MetadataMode.NONE:
            start = None
        sources.append(Source(text, metadata, document=key, document_start=start))
    return sources


PARENT_KEY = "citeformer_parent_id"
"""Metadata key naming the retrieved node a sub-chunk was cut from."""


def node_document(node: BaseNode) -> tuple[str | None, int | None]:
    """``(document key, offset in it)`` of a node: its ``ref_doc_id``, else its parent's.

    The key is the node's source document (``ref_doc_id``), else the retrieved node
    a :class:`~llama_index.response_synthesizers.citeformer.CitationChunker` piece was
    cut from; the offset is ``start_char_idx`` where the node has one.
    """
    key = node.ref_doc_id
    if key is None:
        parent = node.metadata.get(PARENT_KEY)
        key = parent if isinstance(parent, str) and parent.strip() else None
    start = node.start_char_idx if isinstance(node, TextNode) and key is not None else None
    if isinstance(start, bool) or not isinstance(start, int) or start < 0:
        start = None
    return key, start
