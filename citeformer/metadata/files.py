"""What the file parsers share: reading a path or taking text, and reporting problems.

BibTeX, RIS and CSL-JSON exports come as a path or as the text itself. The parsers
keep every entry they can read and report the rest (with where and why) instead of
failing the whole file; only a file with nothing usable at all raises.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from citeformer.metadata.errors import MetadataParseError
from citeformer.metadata.record import Fetched

# A one-line string that looks like a file name: reading it as BibTeX/RIS/JSON text
# would only give a confusing "no entries" error, so a missing file is said plainly.
_LOOKS_LIKE_PATH: Final = re.compile(
    r"^[^\n{}\[\]@\"]+\.(?:bib|bibtex|biblatex|ris|json|csljson|txt)$", re.IGNORECASE
)
# Past this length a string cannot be a file name on any common system.
_MAX_PATH_CHARS: Final = 4096


@dataclass(frozen=True, slots=True)
class ParseProblem:
    """Something in an input file that could not be read as given.

    Attributes:
        where: The entry concerned (``entry 'smith2020' (line 12)``, ``item 3``).
        message: What was wrong, and what was done about it.
        dropped: Whether the entry was left out (else only a field was).
    """

    where: str
    message: str
    dropped: bool = True

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


class ParseResult(list[Fetched]):
    """The entries a parser read (it is a list of them), plus the problems it met.

    Attributes:
        problems: One :class:`ParseProblem` per entry or field that was left out.
    """

    def __init__(
        self, entries: Iterable[Fetched] = (), problems: Iterable[ParseProblem] = ()
    ) -> None:
        super().__init__(entries)
        self.problems: list[ParseProblem] = list(problems)

    @property
    def entries(self) -> list[Fetched]:
        """The entries, as a plain list."""
        return list(self)

    def __repr__(self) -> str:
        return f"ParseResult({list(self)!r}, problems={self.problems!r})"


def read_text_or_path(value: str | os.PathLike[str] | bytes) -> tuple[str, str]:
    """The text of an input, and where it came from.

    A :class:`~pathlib.Path` (or a string naming an existing file) is read as UTF-8,
    with or without a byte-order mark; ``bytes`` are decoded the same way; any other
    string is the content itself (its origin is then ``""``).

    Returns:
        ``(text, origin)``: origin is the path as given, or ``""``.

    Raises:
        MetadataParseError: The file cannot be read or is not UTF-8, or a one-line
            string names a file that does not exist.
    """
    if isinstance(value, bytes):
        return _decode(value, "the input"), ""
    if isinstance(value, str):
        if _is_file(value):
            return _read(Path(value)), value
        if _LOOKS_LIKE_PATH.match(value.strip()):
            raise MetadataParseError(
                f"no such file: {value!r}; pass the path of an existing file, or the "
                "file's content as a string",
                identifier=value,
            )
        return value.removeprefix("\ufeff"), ""
    path = Path(value)
    return _read(path), str(path)


def require_entries(result: ParseResult, what: str, origin: str) -> ParseResult:
    """``result``, or a :class:`MetadataParseError` when it holds no entry at all.

    Args:
        result: What a parser read.
        what: The format, for the message ("BibTeX").
        origin: Where the input came from ("" for text).
    """
    if result:
        return result
    source = f"{origin!r}" if origin else "the input"
    if result.problems:
        shown = "; ".join(str(p) for p in result.problems[:3])
        more = f" (and {len(result.problems) - 3} more)" if len(result.problems) > 3 else ""
        raise MetadataParseError(
            f"no usable {what} entry in {source}: {shown}{more}; fix the entries named",
            identifier=origin or None,
        )
    raise MetadataParseError(
        f"no {what} entry found in {source}; check that it is a {what} file",
        identifier=origin or None,
    )


def _is_file(text: str) -> bool:
    if not text or "\n" in text or "\x00" in text or len(text) > _MAX_PATH_CHARS:
        return False
    try:
        return Path(text).expanduser().is_file()
    except (OSError, ValueError):  # a name too long for the file system, and the like
        return False


def _read(path: Path) -> str:
    try:
        data = path.expanduser().read_bytes()
    except OSError as exc:
        raise MetadataParseError(
            f"cannot read {str(path)!r}: {exc.strerror or exc}; pass the path of a readable file",
            identifier=str(path),
        ) from exc
    return _decode(data, repr(str(path)), str(path))


def _decode(data: bytes, name: str, identifier: str | None = None) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise MetadataParseError(
            f"{name} is not UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
            "re-save it as UTF-8 (most reference managers offer it in their export options)",
            identifier=identifier,
        ) from exc
