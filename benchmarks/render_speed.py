"""Bibliographies and rendered answers: what a list of 20 entries costs, per citation format.

Per format, one representative style and 20 distinct works (several by one author in
one year, so year suffixes are in play):

- raw citeproc-py: one ``CitationStylesBibliography`` with the 20 items registered,
  sorted and rendered with the plain formatter (the floor: no corrections, no
  disambiguation, no in-text forms);
- ours, first render: ``render_bibliography`` after ``clear_cache()`` (the parsed style
  stays loaded), with the in-text citation of every entry and the repair passes;
- ours, cached: the same call again (one cache lookup for the whole list).

Then ``result.render(format="html")`` of a ~2 kB answer with 12 markers over the 20
sources, with the bibliography cached (what a web app pays per page).
"""

from __future__ import annotations

import time

from benchmarks._timing import per_call_us, table
from citeformer import Citeformer, MockBackend, Source
from citeformer.render import clear_cache, render_bibliography, resolve_style
from citeformer.render._csl import normalize
from citeformer.render._patched import load_style

STYLES = {
    "numeric": "ieee",
    "numeric (superscript)": "nature",
    "author-date": "apa",
    "author": "modern-language-association",
    "note": "chicago-notes-bibliography",
    "label": "american-mathematical-society-label",
}
FAMILIES = ["Smith", "Adams", "Nguyen", "Okafor", "Müller", "Garcia", "Ito"]


def _sources(count: int = 20) -> list[Source]:
    sources = []
    for i in range(count):
        family = FAMILIES[i % len(FAMILIES)]
        sources.append(
            Source(
                f"Passage {i} about tides and the moon.",
                {
                    "type": "article-journal" if i % 2 else "book",
                    "title": f"Study number {i} of tidal forces",
                    "author": [{"family": family, "given": "Alex"}],
                    "issued": {"date-parts": [[2015 + i % 3]]},
                    "container-title": "Journal of Tides",
                    "volume": str(i + 1),
                    "page": f"{10 * i + 1}-{10 * i + 9}",
                    "publisher": "Press",
                },
            )
        )
    return sources


def _raw_ms(style: str, sources: list[Source], repeats: int = 5) -> float:
    from citeproc import Citation, CitationItem, CitationStylesBibliography, formatter
    from citeproc.source.json import CiteProcJSON

    info = resolve_style(style)
    engine = load_style(info.path, info.default_locale, info.citation_format).engine
    items = [normalize(s.metadata, None, f"s{i}") for i, s in enumerate(sources, 1)]
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        bibliography = CitationStylesBibliography(engine, CiteProcJSON(items), formatter.plain)
        for item in items:
            bibliography.register(Citation([CitationItem(str(item["id"]))]))
        if engine.has_bibliography():
            bibliography.sort()
            bibliography.bibliography()
        best = min(best, time.perf_counter() - start)
    return best * 1000


def _first_ms(style: str, sources: list[Source], repeats: int = 5) -> float:
    ids = list(range(1, len(sources) + 1))
    render_bibliography(sources, ids, style)  # the style parsed once, as in a server
    best = float("inf")
    for _ in range(repeats):
        clear_cache()
        start = time.perf_counter()
        render_bibliography(sources, ids, style)
        best = min(best, time.perf_counter() - start)
    return best * 1000


def _answer(sources: list[Source]) -> str:
    sentence = "The tide rises twice a day because the moon pulls the oceans toward it"
    parts = [f"{sentence}, as study {k} reports [{k % 20 + 1}]." for k in range(12)]
    text = " ".join(parts)
    while len(text) < 2000:
        text += f" {sentence}."
    return text


def run() -> str:
    sources = _sources()
    ids = list(range(1, len(sources) + 1))
    rows = []
    for family, style in STYLES.items():
        raw = _raw_ms(style, sources)
        first = _first_ms(style, sources)
        cached = per_call_us(lambda s=style: render_bibliography(sources, ids, s), calls=200)
        rows.append(
            [family, style, f"{raw:.1f}", f"{first:.1f}", f"{first / raw:.2f}x", f"{cached:.1f}"]
        )
    lists = table(
        "Bibliography of 20 entries (ms; cached in µs; best of 5)",
        ["format", "style", "raw citeproc-py", "ours, first", "ratio", "ours, cached µs"],
        rows,
    )
    text = _answer(sources)
    result = Citeformer(MockBackend(text)).generate("Why do tides happen?", sources)
    html_rows = []
    for family, style in STYLES.items():
        result.render("html", style=style, inline=True)  # warm the bibliography cache
        html = per_call_us(lambda s=style: result.render("html", style=s, inline=True), calls=50)
        plain = per_call_us(lambda s=style: result.render("text", style=s), calls=50)
        html_rows.append([family, style, f"{plain:.0f}", f"{html:.0f}", f"{html / plain:.2f}x"])
    answers = table(
        f"render() of a {len(text)}-character answer with 12 markers, bibliography cached (µs)",
        ["format", "style", "text, markers kept", "html, inline", "ratio"],
        html_rows,
    )
    return lists + "\n" + answers
