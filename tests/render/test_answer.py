"""result.render() / result.rendered(): the answer presented per style, in three formats."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from citeformer import Citeformer, GenerationResult, MockBackend, Source
from citeformer.errors import InvalidOptionError
from citeformer.render import render_answer

FAMILIES = {
    "numeric": "ieee",
    "superscript": "nature",
    "author-date": "apa",
    "author": "modern-language-association",
    "note": "chicago-notes-bibliography",
    "label": "american-mathematical-society-label",
}


def book(family: str, year: int, title: str) -> Source:
    return Source(
        f"{title} by {family}.",
        {
            "type": "book",
            "title": title,
            "author": [{"family": family, "given": "John"}],
            "issued": {"date-parts": [[year]]},
            "publisher": "Press",
        },
    )


SOURCES = [
    book("Smith", 2020, "Second study"),
    book("Adams", 1979, "Hitchhiking"),
    book("Smith", 2020, "A first study"),
    book("Zed", 2001, "Last words"),
]


def answer(text: str, sources: list[Source] = SOURCES, style: str = "ieee") -> GenerationResult:
    return Citeformer(MockBackend(text), style=style).generate("q", sources)


class _Checker(HTMLParser):
    """Collects tags and text, failing on unbalanced tags."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.text: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag != "br":
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack.pop() == tag, f"unbalanced </{tag}>"

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse_html(markup: str) -> _Checker:
    checker = _Checker()
    checker.feed(markup)
    checker.close()
    assert not checker.stack, f"unclosed tags {checker.stack}"
    return checker


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("output", ["text", "markdown", "html"])
@pytest.mark.parametrize("inline", [False, True])
def test_every_family_renders_in_every_format(family: str, output: Any, inline: bool) -> None:
    result = answer("Tides rise [2][1]. Moons pull [3]. Done [4].")
    rendered = result.rendered(output, style=FAMILIES[family], inline=inline)
    assert rendered.text == result.render(output, style=FAMILIES[family], inline=inline)
    assert len(rendered.markers) == 3  # [2][1] merged into one citation
    assert [m.source_ids for m in rendered.markers] == [(2, 1), (3,), (4,)]
    for marker in rendered.markers:
        assert rendered.text[marker.start : marker.end] == marker.text
    for entry in rendered.entries:
        assert entry.formatted(output) in rendered.text
    if output == "html":
        parse_html(rendered.text)
        for entry in rendered.entries:
            assert f'id="ref-{entry.source_id}"' in rendered.text
    if output != "text":
        for marker in rendered.markers:  # every marker links somewhere that exists
            for target in re.findall(r'(?:href="#|\]\(#)([\w-]+)', marker.text):
                assert f'id="{target}"' in rendered.text


def test_author_date_inline_with_year_suffixes_in_text_and_list() -> None:
    result = answer("One [1]. Two [3]. Both [1][3].", style="apa")
    text = result.render(inline=True)
    assert text.splitlines()[0] == (
        "One (Smith, 2020b). Two (Smith, 2020a). Both (Smith, 2020a, 2020b)."  # collapse="year"
    )
    assert "Smith, J. (2020a). A first study. Press." in text
    assert "Smith, J. (2020b). Second study. Press." in text


def test_numeric_numbering_style_rewrites_text_and_list_together() -> None:
    result = answer("First [3]. Then [1]. Again [3][4].")
    text = result.render(numbering="style")
    assert text.splitlines()[0] == "First [1]. Then [2]. Again [1, 3]."
    assert "[1] J. Smith, A first study" in text
    assert "[2] J. Smith, Second study" in text
    # numbering="source" leaves the model's ids alone
    assert result.render().splitlines()[0] == "First [3]. Then [1]. Again [3, 4]."
    assert result.citations[0].source_id == 3  # the result itself never changes


def test_collapsing_styles_show_ranges() -> None:
    result = answer("All [1][2][3]. Some [1][4].", style="vancouver")
    # NLM/Vancouver collapse citation numbers: [1-3] as a range
    text = result.render(inline=True, numbering="style")
    assert "All (1–3)." in text or "All [1–3]." in text or "All ¹⁻³" in text, text
    plain = answer("All [1][2][3].").render(numbering="style")
    assert "All [1, 2, 3]." in plain  # IEEE's ieee.csl does not collapse


def test_superscript_styles_attach_to_the_word() -> None:
    result = answer("Tides rise [2]. Moons [1][3].")
    assert result.render(style="nature", inline=True, numbering="style").startswith(
        "Tides rise¹. Moons²,³."
    )
    rendered = result.rendered("html", style="nature", inline=True)
    assert rendered.markers[0].text.startswith("<sup>")


def test_note_styles_become_footnotes() -> None:
    result = answer("Tides [2]. Moons [1].", style="chicago-notes-bibliography")
    rendered = result.rendered("text", inline=True)
    assert rendered.text.startswith("Tides¹. Moons².")
    assert [m.note for m in rendered.markers] == [1, 2]
    assert rendered.notes[0] == "John Adams, Hitchhiking (Press, 1979)."
    assert "\n\nNotes\n1. John Adams" in rendered.text


def test_html_escapes_hostile_answers_and_titles() -> None:
    hostile = Source(
        "x",
        {"title": "<script>alert('t')</script> & <b>bold</b>", "author": [{"literal": "<img>"}]},
    )
    result = answer('<script>alert("a")</script> "quoted" & more [1].', [hostile])
    for style in FAMILIES.values():
        for inline in (False, True):
            markup = result.render("html", style=style, inline=inline)
            checker = parse_html(markup)
            assert "script" not in checker.tags and "img" not in checker.tags
            assert '<script>alert("a")</script>' in "".join(checker.text)
            shown = "".join(checker.text)  # the title is text on the page, never markup
            assert "<script>alert(" in shown and "</script> & bold" in shown.lower()
            assert "<script>" not in markup and "<img>" not in markup  # all escaped
            markdown = result.render("markdown", style=style, inline=inline)
            assert "<script>" not in markdown and "<img>" not in markdown


def test_markdown_links_each_marker_to_its_entry() -> None:
    text = answer("Tides [2][1].").render("markdown")
    assert text.startswith(r"Tides \[[2](#ref-2), [1](#ref-1)\].")
    assert '<a id="ref-1"></a>\\[1\\] J. Smith, *Second study*' in text


def test_anchor_prefix_keeps_two_answers_apart_and_is_checked() -> None:
    markup = answer("Tides [1].").render("html", anchor_prefix="a2-")
    assert 'href="#a2-1"' in markup and 'id="a2-1"' in markup
    with pytest.raises(InvalidOptionError, match="anchor_prefix"):
        answer("Tides [1].").render("html", anchor_prefix='x" onclick="')


def test_options_are_checked() -> None:
    result = answer("Tides [1].")
    with pytest.raises(InvalidOptionError, match="format must be one of"):
        result.render("latex")
    with pytest.raises(InvalidOptionError, match="inline must be a bool"):
        result.render(inline="yes")  # type: ignore[arg-type]
    with pytest.raises(InvalidOptionError, match="did you mean"):
        result.render(style="ieeee")


def test_an_answer_without_citations_renders_alone() -> None:
    result = answer("Nothing cited here.")
    assert result.render() == "Nothing cited here."
    assert result.render("html") == '<div class="cf-answer"><p>Nothing cited here.</p></div>'
    assert render_answer(result).markers == ()


def test_a_result_loaded_from_json_renders_the_same() -> None:
    result = answer("Tides [2]. Moons [1].", style="apa")
    again = GenerationResult.from_json(result.to_json())
    assert again.render("html", inline=True) == result.render("html", inline=True)
    assert again.references[0].locale == result.references[0].locale


_ids = st.lists(st.integers(min_value=1, max_value=4), min_size=1, max_size=3)
_words = st.text(alphabet="abc <&>\n", max_size=8)


@settings(max_examples=60, deadline=None)
@given(
    parts=st.lists(st.tuples(_words, _ids), min_size=1, max_size=6),
    style=st.sampled_from(
        ["ieee", "nature", "springer-lecture-notes-in-computer-science-alphabetical"]
    ),
)
def test_renumbered_markers_always_name_the_same_sources(
    parts: list[tuple[str, list[int]]], style: str
) -> None:
    """Differential: markers rendered with numbering="style", mapped back through the
    bibliography's numbers, name exactly the sources the model cited there."""
    text = "".join(f"{words}x [{', '.join(map(str, ids))}]." for words, ids in parts)
    result = answer(text)
    rendered = result.rendered("text", style=style, numbering="style")
    back = {number: sid for sid, number in rendered.bibliography.numbers.items()}
    for marker in rendered.markers:
        expected = {c.source_id for c in marker.citations}
        shown = rendered.text[marker.start : marker.end]
        numbers: list[int] = []
        for first, last in re.findall(r"(\d+)(?:\u2013(\d+))?", shown):
            numbers += range(int(first), int(last or first) + 1)  # collapsed ranges
        assert {back[n] for n in numbers} == expected
        assert set(marker.source_ids) == expected
    labels = {e.source_id: e.label for e in rendered.entries}
    assert all(str(rendered.bibliography.numbers[s]) in label for s, label in labels.items())
