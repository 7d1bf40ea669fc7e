"""One answer, presented in several citation styles and formats.

The model's markers are source ids the grammar allowed; ``result.render()`` shows them
as each style cites: numbered in first-citation order (IEEE), author-date with year
suffixes (APA), superscripts (Nature) or footnotes (Chicago notes), as text, Markdown
or HTML. Run: ``python examples/render_styles.py [--html out.html]``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from citeformer import Citeformer, MockBackend, Source


def _work(family: str, given: str, year: int, title: str, journal: str) -> Source:
    return Source(
        f"{title}: the study's findings on tides.",
        {
            "type": "article-journal",
            "title": title,
            "author": [{"family": family, "given": given}],
            "issued": {"date-parts": [[year]]},
            "container-title": journal,
            "volume": "12",
            "page": "101-118",
        },
    )


SOURCES = [
    _work("Okafor", "Chinwe", 2021, "Tidal forcing in shallow seas", "Ocean Dynamics"),
    _work("Lindqvist", "Erik", 2019, "The moon's pull on coastal waters", "Marine Physics"),
    _work("Okafor", "Chinwe", 2021, "Spring and neap tides revisited", "Ocean Dynamics"),
]
ANSWER = (
    "Tides are driven mainly by the moon's gravity [2]. In shallow seas the tidal range "
    "grows [1][3], and spring tides come at new and full moon [3]."
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--html", type=Path, help="also write an HTML page here")
    args = parser.parse_args()
    result = Citeformer(MockBackend(ANSWER)).generate("Why are there tides?", SOURCES)
    for style, options in (
        ("ieee", {"numbering": "style"}),
        ("apa", {"inline": True}),
        ("nature", {"inline": True, "numbering": "style"}),
        ("chicago-notes-bibliography", {"inline": True}),
    ):
        print(f"== {style} {options}")
        print(result.render(style=style, **options), end="\n\n")
    rendered = result.rendered("markdown", style="ieee", numbering="style")
    print("== ieee, Markdown")
    print(rendered.text)
    for marker in rendered.markers:
        print(f"  marker {marker.text!r} cites sources {marker.source_ids}")
    if args.html:
        page = result.render("html", style="apa", inline=True)
        args.html.write_text(f"<!doctype html><meta charset=utf-8>\n{page}\n", "utf-8")
        print(f"wrote {args.html}")


if __name__ == "__main__":
    main()
