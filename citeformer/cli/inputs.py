"""``--sources`` arguments to :class:`~citeformer.Source` values, in the order given.

Local files are read here (``.jsonl`` lines of ``{content, metadata}``, a ``.json``
list of them or a CSL-JSON export, ``.txt``/``.md`` text, a folder of any of these,
``-`` for stdin); ``.bib``, ``.ris``, ``.pdf``, DOIs, arXiv ids and URLs go through
:func:`citeformer.metadata.afetch` and its cache, fetched concurrently.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from citeformer.cli.exits import CommandError, bad_input, usage

if TYPE_CHECKING:
    from citeformer.core import Source

TEXT_SUFFIXES: Final = frozenset({".txt", ".md", ".markdown", ".text"})
FETCHED_SUFFIXES: Final = frozenset({".bib", ".ris", ".pdf"})
FOLDER_SUFFIXES: Final = TEXT_SUFFIXES | FETCHED_SUFFIXES | {".json", ".jsonl"}
STDIN: Final = "/dev/stdin"
"""What a lone ``-`` argument becomes before parsing (the parser takes ``-`` for a flag)."""


def is_stdin(argument: str | Path) -> bool:
    """Whether an argument names stdin (``-``)."""
    return str(argument) in ("-", STDIN)


@dataclass
class FetchSettings:
    """How identifiers are fetched (the ``fetch`` options)."""

    refresh: bool = False
    offline: bool | None = None
    timeout: float | None = None
    progress: Callable[[int], None] = field(default=lambda _: None)
    """Called with how many sources one finished identifier gave."""

    def kwargs(self) -> dict[str, Any]:
        """Keyword arguments for :func:`citeformer.metadata.afetch`."""
        found: dict[str, Any] = {"refresh": self.refresh, "offline": self.offline}
        if self.timeout is not None:
            found["timeout"] = self.timeout
        return found


async def load_sources(
    arguments: Sequence[str], settings: FetchSettings | None = None
) -> list[Source]:
    """Every source the arguments name, in order (identifiers fetched concurrently).

    Raises:
        CommandError: A missing file, an empty folder, malformed JSON (exit 3).
        MetadataError: An identifier could not be fetched or parsed.
    """
    settings = settings or FetchSettings()
    if not arguments:
        raise usage("no sources: pass files, folders, identifiers or - (stdin) to --sources")
    if sum(map(is_stdin, arguments)) > 1:
        raise usage("'-' (stdin) can be given once")
    plan: list[list[Source] | str] = []
    for argument in arguments:
        plan.extend(_expand(argument))
    identifiers = [item for item in plan if isinstance(item, str)]
    fetched = await _fetch_all(identifiers, settings)
    sources: list[Source] = []
    for item in plan:
        sources.extend(fetched[item] if isinstance(item, str) else item)
    if not sources:
        raise bad_input("the sources given hold no source; check the files")
    return sources


def _expand(argument: str) -> list[list[Source] | str]:
    """One argument: local sources read now, or an identifier to fetch."""
    if is_stdin(argument):
        return [read_stdin()]
    path = Path(argument).expanduser()
    if path.is_dir():
        files = sorted(
            p
            for p in path.rglob("*")
            if p.is_file()
            and p.suffix.lower() in FOLDER_SUFFIXES
            and not any(part.startswith(".") for part in p.relative_to(path).parts)
        )
        if not files:
            kinds = ", ".join(sorted(FOLDER_SUFFIXES))
            raise bad_input(f"folder {argument} holds no source files ({kinds})")
        return [item for file in files for item in _expand(str(file))]
    suffix = path.suffix.lower()
    if suffix in TEXT_SUFFIXES | {".json", ".jsonl"} or (
        suffix in FETCHED_SUFFIXES and not path.exists()
    ):
        if not path.is_file():
            raise bad_input(f"cannot read {argument}: no such file")
        data, text = read_input(path)
        if suffix in TEXT_SUFFIXES:
            return [[text_source(text, path.name, data)]]
        if suffix == ".jsonl":
            return [jsonl_sources(text, argument)]
        return [json_sources(text, argument)]
    return [argument]


async def _fetch_all(identifiers: list[str], settings: FetchSettings) -> dict[str, list[Source]]:
    if not identifiers:
        return {}
    from citeformer.metadata import afetch, recognize

    for identifier in identifiers:
        recognize(identifier)  # every identifier checked before any request
    distinct = list(dict.fromkeys(identifiers))
    arxiv = [i for i in distinct if recognize(i).kind == "arxiv"]
    others = [i for i in distinct if i not in arxiv]
    groups = ([arxiv] if arxiv else []) + [[i] for i in others]
    kwargs = settings.kwargs()

    async def one(group: list[str]) -> list[list[Source]]:
        # Several arXiv ids go in one request (arXiv asks for one per 3 s).
        sources = await afetch(*group, **kwargs)
        # Several arXiv ids give one source each; a file may give many.
        parts = [[source] for source in sources] if len(group) > 1 else [sources]
        settings.progress(len(group))
        return parts

    done = await asyncio.gather(*(one(group) for group in groups))
    found: dict[str, list[Source]] = {}
    for group, parts in zip(groups, done, strict=True):
        found.update(zip(group, parts, strict=True))
    return found


def read_stdin() -> list[Source]:
    """Sources from stdin: JSON, JSON Lines, BibTeX, RIS, or one plain-text source."""
    data, text = read_input(STDIN)
    stripped = text.lstrip()
    if not stripped:
        raise bad_input("stdin is empty; pipe sources in, or drop '-' from --sources")
    if stripped.startswith("@"):
        from citeformer.metadata.sources import from_bibtex

        return from_bibtex(text)
    if stripped.startswith("TY  -"):
        from citeformer.metadata.sources import from_ris

        return from_ris(text)
    if stripped.startswith(("[", "{")):
        lines = [line for line in stripped.splitlines() if line.strip()]
        if len(lines) > 1 and all(line.lstrip().startswith("{") for line in lines):
            with contextlib.suppress(CommandError):  # one pretty-printed object, not lines
                return jsonl_sources(text, "stdin")
        return json_sources(text, "stdin")
    return [text_source(text, "stdin", data)]


def text_source(text: str, name: str, data: bytes) -> Source:
    """A plain-text or Markdown file as one source, titled by its first heading or name."""
    from citeformer.core import Source

    title = next(
        (line.lstrip("#").strip() for line in text.splitlines() if line.startswith("# ")),
        Path(name).stem.replace("_", " ").replace("-", " ").strip() or name,
    )
    digest = hashlib.sha256(data).hexdigest()[:16]
    if not text.strip():
        raise bad_input(f"{name} is empty; a source needs text")
    return Source(text, {"id": f"sha256:{digest}", "title": title, "type": "document"})


def jsonl_sources(text: str, origin: str) -> list[Source]:
    """Lines of ``{"content": ..., "metadata": {...}}``."""
    sources = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except ValueError as exc:
            raise bad_input(f"{origin} line {number} is not JSON: {exc}") from exc
        sources.append(_item_source(item, f"{origin} line {number}"))
    return sources


def json_sources(text: str, origin: str) -> list[Source]:
    """A JSON list of ``{content, metadata}`` objects, or a CSL-JSON export."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise bad_input(f"{origin} is not JSON: {exc}") from exc
    items = data if isinstance(data, list) else [data]
    if items and all(isinstance(i, dict) and ("content" in i or "metadata" in i) for i in items):
        return [_item_source(item, f"{origin} item {n}") for n, item in enumerate(items, 1)]
    from citeformer.metadata.sources import from_csl_json

    return from_csl_json(data, origin=origin)


def _item_source(item: object, where: str) -> Source:
    from citeformer.core import Source

    if not isinstance(item, dict):
        raise bad_input(f"{where}: expected an object with content and metadata")
    content = item.get("content", "")
    metadata = item.get("metadata", {})
    if not isinstance(content, str) or not isinstance(metadata, dict):
        raise bad_input(f"{where}: content must be a string and metadata an object")
    try:
        return Source(content, metadata)
    except ValueError as exc:
        raise bad_input(f"{where}: {exc}") from exc


def read_input(argument: str | Path) -> tuple[bytes, str]:
    """The bytes of a file (or of stdin, ``-``) and their UTF-8 text, read once.

    Raises:
        CommandError: The file cannot be read, or is not UTF-8 (exit 3).
    """
    name = "stdin" if is_stdin(argument) else str(argument)
    if is_stdin(argument):
        data = sys.stdin.buffer.read()
    else:
        try:
            data = Path(argument).expanduser().read_bytes()
        except OSError as exc:
            raise bad_input(f"cannot read {argument}: {exc.strerror or exc}") from exc
    try:
        return data, data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise bad_input(f"{name} is not UTF-8 text ({exc.reason} at byte {exc.start})") from exc


def count_identifiers(arguments: Sequence[str]) -> int:
    """How many arguments will be fetched (for the progress bar)."""
    return sum(
        1
        for argument in arguments
        if not is_stdin(argument)
        and not Path(argument).expanduser().is_dir()
        and Path(argument).suffix.lower() not in TEXT_SUFFIXES | {".json", ".jsonl"}
    )
