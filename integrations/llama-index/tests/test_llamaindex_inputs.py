"""Node to source mapping, and clear errors for bad input."""

from __future__ import annotations

from typing import Any

import pytest
from llama_index.core import VectorStoreIndex
from llama_index.core.llms import MockLLM
from llama_index.core.schema import ImageNode, MetadataMode, NodeWithScore, TextNode
from llama_index.response_synthesizers.citeformer import (
    CiteformerSynthesizer,
    HashingEmbedding,
    citation_query_engine,
    citations,
    default_node_to_csl,
    nodes_to_sources,
)

from citeformer import Citeformer, InvalidOptionError, InvalidSourceError, MockBackend


def test_node_metadata_becomes_csl() -> None:
    """Node metadata becomes csl."""
    node = TextNode(
        id_="n1",
        text="Text.",
        metadata={
            "file_name": "report.pdf",
            "authors": ["Ada Lovelace"],
            "year": 1843,
            "source": "https://example.org/report",
            "page_label": "12",
            "unrelated": "dropped",
        },
    )
    csl = default_node_to_csl(NodeWithScore(node=node, score=0.4))
    assert csl == {
        "title": "report.pdf",
        "author": ["Ada Lovelace"],
        "issued": 1843,
        "URL": "https://example.org/report",
        "page": "12",
        "id": "n1",
    }
    explicit = TextNode(
        id_="n2", text="T.", metadata={"title": "A", "csl": {"title": "B", "type": "book"}}
    )
    assert default_node_to_csl(NodeWithScore(node=explicit)) == {
        "title": "B",
        "type": "book",
        "id": "n2",
    }


@pytest.mark.parametrize("reverse", [False, True])
def test_csl_name_precedence_does_not_depend_on_metadata_order(reverse: bool) -> None:
    """The first listed name wins (``title`` over ``file_name``); empty values are skipped."""
    items = [
        ("file_name", "report.pdf"),
        ("title", "The Report"),
        ("url", "https://example.org/b"),
        ("URL", "https://example.org/a"),
        ("author", ""),
        ("creator", "Grace Hopper"),
        ("doi", None),
        ("date", "2024-01-02"),
        ("year", 2024),
    ]
    metadata = dict(reversed(items) if reverse else items)
    node = NodeWithScore(node=TextNode(id_="p", text="Text.", metadata=metadata))
    csl = default_node_to_csl(node)
    assert csl == {
        "title": "The Report",
        "author": "Grace Hopper",
        "issued": "2024-01-02",
        "URL": "https://example.org/a",
        "id": "p",
    }
    assert list(csl) == ["title", "author", "issued", "URL", "id"]  # CSL order, always


def test_node_citation_to_dict_has_every_field() -> None:
    """``NodeCitation.to_dict`` (hand-written for speed) matches ``dataclasses.asdict``."""
    import dataclasses

    from llama_index.response_synthesizers.citeformer import NodeCitation

    citation = NodeCitation("n", 2, 5, 8, "[2]", "quote", 0, 5, 0.75)
    assert citation.to_dict() == dataclasses.asdict(citation)
    assert list(citation.to_dict()) == [f.name for f in dataclasses.fields(NodeCitation)]


def test_sources_keep_order_text_and_metadata() -> None:
    """Sources keep order text and metadata."""
    nodes = [
        NodeWithScore(node=TextNode(id_=f"n{i}", text=f"Passage {i}.", metadata={"title": f"T{i}"}))
        for i in range(3)
    ]
    sources = nodes_to_sources(nodes)
    assert [s.content for s in sources] == ["Passage 0.", "Passage 1.", "Passage 2."]
    assert [s.metadata["id"] for s in sources] == ["n0", "n1", "n2"]
    with_meta = nodes_to_sources(nodes, metadata_mode=MetadataMode.LLM)
    assert with_meta[0].content.startswith("title: T0")


def test_custom_node_to_csl_is_used() -> None:
    """Custom node to csl is used."""
    backend = MockBackend("Claim [1].")
    synthesizer = CiteformerSynthesizer(
        Citeformer(backend), node_to_csl=lambda n: {"title": f"Custom {n.node.node_id}"}
    )
    node = NodeWithScore(node=TextNode(id_="x", text="Evidence."), score=1.0)
    response = synthesizer.synthesize("q?", [node])
    assert "Custom x" in response.metadata["references"][0]["text"]
    assert citations(response)[0].node_id == "x"


def test_node_without_text_is_a_clear_error(nodes: list[TextNode]) -> None:
    """Node without text is a clear error."""
    backend = MockBackend("Claim [1].")
    index = VectorStoreIndex(
        [*nodes, TextNode(id_="blank", text="   ")], embed_model=HashingEmbedding()
    )
    engine = citation_query_engine(index, backend, similarity_top_k=5)
    with pytest.raises(InvalidSourceError, match=r"'blank'.*has no text to cite"):
        engine.query("Tell me about the Rhine")


async def test_image_node_without_text_is_a_clear_error() -> None:
    """Image node without text is a clear error."""
    synthesizer = CiteformerSynthesizer(MockBackend("Claim [1]."))
    image = NodeWithScore(node=ImageNode(id_="img", image_url="https://example.org/a.png"))
    with pytest.raises(InvalidSourceError, match=r"retrieved node 0 \(id 'img', ImageNode\)"):
        await synthesizer.asynthesize("q?", [image])


def test_bare_nodes_are_cited_and_other_items_are_a_clear_error() -> None:
    """Bare nodes are cited like scored ones; anything else is a clear error."""
    synthesizer = CiteformerSynthesizer(MockBackend("Claim [1]."))
    response = synthesizer.synthesize("q?", [TextNode(text="x")])  # type: ignore[list-item]
    assert response.metadata["citations"][0]["source_id"] == 1
    assert response.source_nodes[0].node.get_content() == "x"
    with pytest.raises(InvalidSourceError, match=r"nodes\[0\] is a str.*NodeWithScore"):
        synthesizer.synthesize("q?", ["x"])  # type: ignore[list-item]


def test_node_to_csl_must_return_a_mapping() -> None:
    """Node to csl must return a mapping."""
    synthesizer = CiteformerSynthesizer(MockBackend("C [1]."), node_to_csl=lambda n: "title")  # type: ignore[arg-type,return-value]
    with pytest.raises(InvalidSourceError, match="must return a CSL-JSON mapping"):
        synthesizer.synthesize("q?", [NodeWithScore(node=TextNode(text="x"))])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"citeformer": "gpt-4o"},
            "must be a citeformer.Citeformer or a citeformer Backend, got str",
        ),
        ({"citeformer": MockLLM()}, "a LlamaIndex LLM is not a backend"),
        ({"streaming": "yes"}, "streaming must be a bool"),
        ({"metadata_mode": "llm"}, "metadata_mode must be a llama_index MetadataMode"),
        ({"node_to_csl": {"title": "x"}}, "node_to_csl must be a function"),
        ({"options": ["max_tokens"]}, "options must be a mapping"),
        ({"policy": "sometimes"}, "unknown policy 'sometimes'"),
        ({"empty_response": 3}, "empty_response must be a str"),
        ({"callback_manager": object()}, "callback_manager must be a CallbackManager"),
    ],
)
def test_wrong_synthesizer_arguments(kwargs: dict[str, Any], message: str) -> None:
    """Wrong synthesizer arguments."""
    arguments: dict[str, Any] = {"citeformer": MockBackend("x"), **kwargs}
    with pytest.raises(InvalidOptionError, match=message):
        CiteformerSynthesizer(**arguments)


def test_wrong_engine_arguments(index: VectorStoreIndex) -> None:
    """Wrong engine arguments."""
    backend = MockBackend("x")
    with pytest.raises(InvalidOptionError, match="expected a LlamaIndex index or retriever"):
        citation_query_engine("my index", backend)  # type: ignore[arg-type]
    with pytest.raises(InvalidOptionError, match="apply to an index, not to a ready retriever"):
        citation_query_engine(index.as_retriever(), backend, similarity_top_k=3)
    synthesizer = CiteformerSynthesizer(backend)
    with pytest.raises(
        InvalidOptionError, match=r"CiteformerSynthesizer\(\.\.\., streaming=True\)"
    ):
        citation_query_engine(index, synthesizer, streaming=True)
    with pytest.raises(InvalidOptionError, match=r"must be a citeformer\.Citeformer"):
        citation_query_engine(index, MockLLM())  # type: ignore[arg-type]


def test_prompt_templates_are_refused_not_ignored(index: VectorStoreIndex) -> None:
    """Prompt templates are refused not ignored."""
    from llama_index.core.prompts import PromptTemplate

    engine = citation_query_engine(index, MockBackend("x"))
    assert engine.get_prompts() == {}
    with pytest.raises(InvalidOptionError, match="no prompt templates"):
        engine.update_prompts({"response_synthesizer:text_qa_template": PromptTemplate("{x}")})


def test_invalid_call_option_surfaces_citeformer_error(nodes: list[TextNode]) -> None:
    """Invalid call option surfaces citeformer error."""
    synthesizer = CiteformerSynthesizer(MockBackend("x [1]."))
    with pytest.raises(InvalidOptionError, match="policy"):
        synthesizer.synthesize("q?", [NodeWithScore(node=nodes[0])], policy="never")


def test_non_citeformer_response_is_refused() -> None:
    """Non citeformer response is refused."""
    from llama_index.core.base.response.schema import Response

    with pytest.raises(TypeError, match="not produced by CiteformerSynthesizer"):
        citations(Response("x", metadata={"node-1": {}}))
