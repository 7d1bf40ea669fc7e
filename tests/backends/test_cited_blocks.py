"""The provider-neutral cited-block assembler, driven by source ids (no wire objects)."""

from __future__ import annotations

from citeformer.backends.call import ProviderCitation
from citeformer.backends.cited_blocks import CitedBlockAssembler
from citeformer.core import InvalidMarker, MarkerStyle


def test_a_cited_block_gets_its_marker_before_its_trailing_punctuation() -> None:
    blocks = CitedBlockAssembler(3, MarkerStyle.BRACKET)
    out = blocks.start_block() + blocks.text("The grass is green.")
    blocks.cite_source(2, cited_text="green", source_start=4, source_end=9)
    blocks.cite_source(2, cited_text="ignored")  # the first passage per source is kept
    out += blocks.end_block() + blocks.finish()
    assert out == "The grass is green [2]."
    citations, invalid = blocks.take_facts()
    assert citations == (ProviderCitation(19, 2, "green", 4, 9),)
    assert invalid == ()


def test_ids_outside_the_sources_are_reported_never_cited() -> None:
    blocks = CitedBlockAssembler(2, MarkerStyle.BRACKET)
    out = blocks.start_block() + blocks.text("Tall [1].")  # prose markers are removed
    blocks.cite_source(3)
    blocks.reject("document x", "malformed")
    out += blocks.end_block() + blocks.finish()
    assert out == "Tall."
    assert blocks.take_facts() == (
        (),
        (
            InvalidMarker("[3]", 4, 4, "out_of_range"),
            InvalidMarker("document x", 4, 4, "malformed"),
        ),
    )
