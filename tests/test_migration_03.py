"""Code written against citeformer 0.3, run unchanged on 0.4 (see MIGRATING.md).

Each test is written as a 0.3 user wrote it (the 0.3 names and call shapes); the
asserts also pin the 0.4 behaviour that replaced an unsafe 0.3 one. Deprecated
spellings must warn, naming the new one; equally good names must not.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest

from citeformer import Citeformer, MockBackend, Policy, Source, TokenUsage
from citeformer.errors import CiteformerError, InvalidOptionError, SchemaVersionError

POE = Source(
    "Once upon a midnight dreary, while I pondered, weak and weary.",
    {
        "type": "book",
        "title": "The Raven",
        "author": [{"family": "Poe", "given": "Edgar Allan"}],
        "issued": {"date-parts": [[1845]]},
    },
)
PAIR = Source(
    "Tides follow the moon.",
    {
        "title": "Tides",
        "author": [{"family": "Lee", "given": "A"}, {"family": "Park", "given": "B"}],
        "issued": {"date-parts": [[2020]]},
    },
)
MANY = Source(
    "Seas rise.",
    {"title": "Seas", "author": [{"family": "Kim"}, {"family": "Roe"}, {"family": "Zed"}]},
)


@pytest.fixture(autouse=True)
def _no_stray_warnings() -> None:
    """Only the lines under ``pytest.deprecated_call`` may warn (filterwarnings=error)."""


def test_the_03_quickstart() -> None:
    cf = Citeformer(MockBackend("The raven speaks at midnight [1]."), style="apa-7")
    result = cf.generate("What does the raven do?", [POE], Policy.REQUIRED)
    citation = result.citations[0]
    assert citation.span == (citation.start, citation.end) == (29, 32)
    assert result.text[slice(*citation.span)] == "[1]"
    assert citation.source_span is None  # no passage reported by this backend
    assert citation.document_title == "The Raven"
    reference = result.references[0]
    assert reference.rendered == reference.text
    assert reference.rendered.startswith("Poe, E. A. (1845). The Raven")
    assert reference.inline_marker == "(Poe, 1845)"


def test_references_know_their_inline_marker_in_numeric_styles() -> None:
    result = Citeformer(MockBackend("Tides [2]. Raven [1]."), style="ieee").generate(
        "q", [POE, PAIR]
    )
    assert [(r.source_id, r.inline_marker) for r in result.references] == [(1, "[1]"), (2, "[2]")]


def test_usage_names() -> None:
    usage = TokenUsage(prompt_tokens=12, completion_tokens=5)
    assert (usage.input_tokens, usage.output_tokens, usage.total_tokens) == (12, 5, 17)
    cf = Citeformer(MockBackend("Raven [1].", usage=usage))
    assert cf.generate("q", [POE]).usage.input_tokens == 12  # type: ignore[union-attr]


def test_mock_backend_with_responses() -> None:
    with pytest.deprecated_call(match=r"replies=\{prompt: reply\}"):
        backend = MockBackend(responses={"Who wrote it?": "Poe did [1]."})
    assert Citeformer(backend).generate("Who wrote it?", [POE]).text == "Poe did [1]."
    with pytest.raises(InvalidOptionError, match="no reply scripted"):  # no 0.3 echo
        Citeformer(backend).generate("Who wrote it ?", [POE])


def test_streaming_with_next() -> None:
    stream = Citeformer(MockBackend("The raven [1] speaks.", chunks=4)).stream("q", [POE])
    first = next(stream)
    rest = "".join(stream)
    assert first + rest == "The raven [1] speaks."
    with pytest.raises(StopIteration):
        next(stream)
    assert stream.finalize().cited_ids == [1]


def test_backend_module_paths() -> None:
    from citeformer.backends.fireworks import FireworksBackend
    from citeformer.backends.openai import FireworksBackend as Current
    from citeformer.backends.openrouter import OpenRouterBackend
    from citeformer.backends.together import TogetherBackend

    assert FireworksBackend is Current
    assert {OpenRouterBackend.__name__, TogetherBackend.__name__} == {
        "OpenRouterBackend",
        "TogetherBackend",
    }


@pytest.mark.parametrize("style", ["apa-7", "mla-9", "chicago"])
def test_style_names(style: str) -> None:
    result = Citeformer(MockBackend("Raven [1]."), style=style).generate("q", [POE])
    assert "Raven" in result.references[0].text


def test_style_listings() -> None:
    from citeformer import available_formatters, bundled_style_names

    with pytest.deprecated_call(match="available_styles"):
        names = bundled_style_names()
    assert {"apa-7", "mla-9", "chicago", "ieee", "apa"} <= set(names)
    with pytest.deprecated_call(match="OUTPUT_FORMATS"):
        assert available_formatters() == ("text", "markdown", "html")


def test_deduplicate_adjacent_cites() -> None:
    from citeformer import deduplicate_adjacent_cites

    assert deduplicate_adjacent_cites("Tides [2][1][2].") == "Tides [1, 2]."
    result = Citeformer(MockBackend("Tides [2][1][2]. Raven [1].")).generate("q", [POE, PAIR])
    deduplicated = result.deduplicated()  # the 0.4 form keeps the spans right
    assert deduplicated.text == "Tides [1, 2]. Raven [1]."
    for citation in deduplicated.citations:
        assert deduplicated.text[citation.start : citation.end] == citation.marker


def test_build_rag_prompt_shows_the_evidence_and_author_tags() -> None:
    from citeformer import build_rag_prompt

    prompt = build_rag_prompt(
        query="Why do tides happen?",
        sources=[POE, PAIR, MANY],
        system="You answer from sources.",
        example="Tides follow the moon [2].",
    )
    assert prompt.startswith("You answer from sources.\n\n")
    assert "[1] Poe: The Raven\nOnce upon a midnight dreary" in prompt  # content, not only a title
    assert "[2] Lee & Park: Tides\nTides follow the moon." in prompt
    assert "[3] Kim et al.: Seas\nSeas rise." in prompt
    assert "Example answer:\nTides follow the moon [2]." in prompt
    assert prompt.endswith("Question: Why do tides happen?\n\nAnswer:")
    default = build_rag_prompt(query="Why?", sources=["Plain text."], answer_prefix="A:")
    assert "Only the markers [1] exist" in default and default.endswith("A:")


def test_metadata_names(tmp_path: Path) -> None:
    from citeformer import load_bibtex, load_zotero_csl, validate_csl_json

    bib = tmp_path / "refs.bib"
    bib.write_text(
        "@book{poe1845, title={The Raven}, author={Poe, Edgar Allan}, year={1845},"
        " abstract={Once upon a midnight dreary.}}"
    )
    with pytest.deprecated_call(match=r"Source\.from_bibtex"):
        (raven,) = load_bibtex(bib)
    assert raven.title == "The Raven"
    items = [{"id": "poe", "type": "book", "title": "The Raven", "abstract": "Once upon."}]
    with pytest.deprecated_call(match=r"Source\.from_csl_json"):
        assert load_zotero_csl(json.dumps(items))[0].title == "The Raven"
    with pytest.deprecated_call(match=r"Source\.from_csl_json"):
        assert Source.from_zotero(items)[0].title == "The Raven"
    report = validate_csl_json(items)
    assert report.valid and report.items == 1 and bool(report)
    broken = validate_csl_json([items[0], 3])
    assert not broken.valid and broken.items == 1 and "item 1" in broken.problems[0]
    assert not validate_csl_json("not json").valid


@pytest.mark.parametrize(
    ("name", "new"),
    [
        ("fetch_crossref", r"Source\.from_doi"),
        ("fetch_arxiv", r"Source\.from_arxiv"),
        ("extract_url", r"Source\.from_url"),
        ("extract_pdf", r"Source\.from_pdf"),
    ],
)
def test_fetchers_warn_and_delegate(name: str, new: str, tmp_path: Path) -> None:
    import citeformer

    fetcher = getattr(citeformer, name)
    with pytest.deprecated_call(match=new), pytest.raises(CiteformerError):  # 0.4's typed error
        fetcher(str(tmp_path / "missing.pdf") if name == "extract_pdf" else "", offline=True)


def test_verification_names() -> None:
    from citeformer import VerificationReport
    from citeformer.verify import CitationVerdict, LexicalScorer

    with pytest.deprecated_call(match=r"citeformer\.verify\.CitationVerdict"):
        from citeformer.compat import CitationSupport

    result = Citeformer(MockBackend("The raven speaks at midnight [1].")).generate("q", [POE])
    report = result.verify(LexicalScorer())
    assert isinstance(report, VerificationReport)
    assert CitationSupport is CitationVerdict
    assert isinstance(report.citations[0], CitationSupport)


def test_03_json_is_not_read_as_ours() -> None:
    from citeformer import GenerationResult

    stored = {"text": "Poe [1].", "citations": [{"source_id": 1, "span": [4, 7]}]}
    with pytest.raises(SchemaVersionError, match=r"MIGRATING\.md"):
        GenerationResult.from_dict(stored)
    result = Citeformer(MockBackend("Poe [1].")).generate("q", [POE])
    assert GenerationResult.from_json(result.to_json()) == result


def test_equally_good_names_do_not_warn() -> None:
    result = Citeformer(MockBackend("Raven [1].")).generate("q", [POE])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _ = result.citations[0].span, result.citations[0].document_title
        _ = result.references[0].rendered, result.references[0].inline_marker
        _ = TokenUsage(1, 2).input_tokens
