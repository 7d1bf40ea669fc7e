"""CSL-JSON exports (Zotero, Better BibTeX, pandoc, citeproc-js) read and validated.

Accepted shapes: a list of items, one item, or the Zotero web API's
``{"items": [...]}``. Each item must be a JSON object; names must be lists of name
objects (a bare string is split with :func:`citeformer.metadata.csl.parse_name`, an
object alone is taken as a one-name list); dates must be ``date-parts`` (Zotero writes
``[["2020", 5]]`` with strings: read as numbers), ``raw``/``literal`` or an ISO string.
A bad item is reported with its index and left out; a bad field is reported and
dropped, the item kept.

Ids: ``csl:`` + the item's own ``id`` (a Better BibTeX citekey, a Zotero item URI),
so the entries stay tied to the ids the user's other tools know them by, as BibTeX
entries keep their cite keys. An item without an id gets ``csl:`` + the first 16 hex
digits of the SHA-256 of its canonical JSON. The DOI stays in ``metadata["DOI"]``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from citeformer._canonical import canonical_json
from citeformer.metadata import csl
from citeformer.metadata.errors import MetadataParseError
from citeformer.metadata.files import ParseProblem, ParseResult, read_text_or_path, require_entries
from citeformer.metadata.record import Fetched

__all__ = ["parse_csl_json"]


def parse_csl_json(obj_or_text: Any, origin: str = "") -> ParseResult:
    """CSL records from a CSL-JSON export.

    Args:
        obj_or_text: JSON text, a :class:`~pathlib.Path`, or the parsed JSON (a list of
            items, one item, or ``{"items": [...]}``).
        origin: Where it came from, recorded in each :class:`Fetched` (a Path's own
            name when not given).

    Returns:
        One :class:`Fetched` per valid item (a list), content the item's abstract
        (markup stripped) or ""; ``problems`` names each item left out (by index) and
        each field dropped.

    Raises:
        MetadataParseError: The text is not JSON, the JSON is not a list or object
            of items, or no item is valid.
    """
    data = obj_or_text
    if isinstance(data, Path | bytes):
        data, path = read_text_or_path(data)
        origin = origin or path
    if isinstance(data, str):
        data = _loads(data, origin)
    items = _items(data, origin)
    problems: list[ParseProblem] = []
    out: list[Fetched] = []
    seen: set[str] = set()
    for index, item in enumerate(items):
        fetched = _item(index, item, origin, problems)
        if fetched is None:
            continue
        if fetched.metadata["id"] in seen:
            problems.append(
                ParseProblem(_where(index, item), "repeats the id of an earlier item; left out")
            )
            continue
        seen.add(fetched.metadata["id"])
        out.append(fetched)
    return require_entries(ParseResult(out, problems), "CSL-JSON", origin)


def _loads(text: str, origin: str) -> Any:
    try:
        return json.loads(text.removeprefix("\ufeff"))
    except json.JSONDecodeError as exc:
        where = f"{origin!r}" if origin else "the input"
        raise MetadataParseError(
            f"{where} is not JSON ({exc.msg} at line {exc.lineno}, column {exc.colno}); "
            "export the items as CSL JSON (Zotero: Export Library... > CSL JSON)",
            identifier=origin or None,
        ) from exc


def _items(data: Any, origin: str) -> list[Any]:
    if isinstance(data, Mapping) and isinstance(data.get("items"), list):
        return list(data["items"])  # the Zotero web API's format=csljson
    if isinstance(data, Mapping):
        return [data]
    if isinstance(data, list | tuple):
        return list(data)
    where = f"{origin!r}" if origin else "the input"
    raise MetadataParseError(
        f"{where} holds a JSON {type(data).__name__}, not CSL-JSON items; pass a list of "
        "item objects (or one item)",
        identifier=origin or None,
    )


def _where(index: int, item: Any) -> str:
    own = item.get("id") if isinstance(item, Mapping) else None
    return f"item {index}" + (f" ({own!r})" if isinstance(own, str | int) else "")


def _item(index: int, item: Any, origin: str, problems: list[ParseProblem]) -> Fetched | None:
    where = _where(index, item)
    if not isinstance(item, Mapping):
        problems.append(
            ParseProblem(where, f"is a JSON {type(item).__name__}, not an object; left out")
        )
        return None
    own = item.get("id")
    if own is not None and (isinstance(own, bool) or not isinstance(own, str | int)):
        problems.append(ParseProblem(where, "its id is not a string or number; left out"))
        return None
    clean: dict[str, Any] = {}
    for key, value in item.items():
        if key in csl.NAME_FIELDS:
            names = _names(value)
            if names is None:
                problems.append(_dropped(where, key, "not a list of name objects"))
                continue
            value = names
        elif key in csl.DATE_FIELDS and not _is_date(value):
            problems.append(_dropped(where, key, "not a date (date-parts, raw or ISO text)"))
            continue
        clean[key] = value
    own_id = str(own).strip() if own is not None else ""
    if not own_id:
        digest = hashlib.sha256(canonical_json(clean).encode()).hexdigest()[:16]
        own_id = digest
    metadata = csl.normalize(clean, id="csl:" + own_id)
    for key in csl.DATE_FIELDS & clean.keys():
        if key not in metadata:
            problems.append(_dropped(where, key, "holds no usable date"))
    content = str(metadata.get("abstract") or "")
    if not metadata.get("title") and not content:
        problems.append(ParseProblem(where, "has no title and no abstract; left out"))
        return None
    extra = {"format": "csl-json", "index": index}
    return Fetched(metadata, content, origin, extra)


def _dropped(where: str, key: str, why: str) -> ParseProblem:
    return ParseProblem(where, f"field {key!r} dropped: {why}", dropped=False)


def _names(value: Any) -> list[Any] | None:
    """The name list, or None when it is not one."""
    if isinstance(value, Mapping):
        value = [value]  # one name object where a list belongs
    if isinstance(value, str):
        value = [v for v in value.split(" and ") if v.strip()]
    if not isinstance(value, list):
        return None
    if not all(isinstance(v, Mapping | str) for v in value):
        return None
    return value


def _is_date(value: Any) -> bool:
    if isinstance(value, str):
        return csl.date_parts(value) is not None
    if not isinstance(value, Mapping):
        return False
    parts = value.get("date-parts")
    if isinstance(parts, list) and parts and all(isinstance(p, list) for p in parts):
        try:
            return bool(parts[0]) and all(
                int(p) >= 0 for part in parts for p in part[:3] if p is not None
            )
        except (TypeError, ValueError):
            return False
    return any(isinstance(value.get(k), str) for k in ("raw", "literal", "season"))
