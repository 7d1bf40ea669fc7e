"""nodes_to_sources as exported: scored or bare nodes, and the core's hint for a node."""

from __future__ import annotations

import pytest
from llama_index.core.schema import NodeWithScore, TextNode
from llama_index.response_synthesizers.citeformer import nodes_to_sources

from citeformer import Citeformer, InvalidSourceError, MockBackend


def test_bare_and_scored_nodes_become_the_same_sources() -> None:
    node = TextNode(text="Paris is in France.", id_="n1", metadata={"file_name": "fr.txt"})
    bare = nodes_to_sources([node])
    scored = nodes_to_sources([NodeWithScore(node=node, score=0.5)])
    assert bare == scored
    assert bare[0].metadata == {"title": "fr.txt", "id": "n1"}
    with pytest.raises(InvalidSourceError, match=r"nodes\[0\] is a str"):
        nodes_to_sources(["text"])  # type: ignore[list-item]


def test_the_core_names_the_converter_for_a_node() -> None:
    node = TextNode(text="Paris is in France.")
    with pytest.raises(InvalidSourceError, match="nodes_to_sources"):
        Citeformer(MockBackend("x")).generate("q", [node])  # type: ignore[list-item]
