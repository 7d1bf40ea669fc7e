"""arXiv: the Atom API (``export.arxiv.org/api/query``), parsed with lxml.

One request can carry several ids (``id_list=a,b,c``): :func:`arxiv_batch_plan`
returns them in the caller's order, since arXiv may reorder them. The politeness
limiter of :mod:`citeformer.metadata.http` spaces requests to arXiv's hosts by its
3 s; other hosts (a mirror, a test server) are not slowed unless asked.

The feed's traps (``../shared/METADATA.md`` section 3.3): a feed ``<link>`` before the
entries is not a paper; errors come as an ordinary-looking entry (title ``Error``, an
``api/errors`` id, author ``arXiv api core``) under HTTP 400, or 200 from older
services; an empty feed for a valid id is a known flake, so it is asked once more.

CSL for a preprint: ``type: article``, ``publisher: arXiv``, ``number: <id>``,
``DOI: 10.48550/arXiv.<id>``, ``issued`` from ``<published>`` (v1) with the day,
``version`` (``v2``), ``URL`` the abs page. The published version's DOI
(``arxiv:doi``) and the journal reference (``arxiv:journal_ref``) go in ``note`` as
``Label: value`` pairs joined by ``"; "``: ``note`` is valid CSL and none of the
bundled styles prints it (``references`` would be printed by APA). They are also in ``extra``
(``published_doi``, ``journal_ref``), with the comment and the categories. The
abstract is the record's ``content``, never part of the metadata.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from lxml import etree

from citeformer.metadata import csl
from citeformer.metadata.errors import (
    MetadataNotFoundError,
    MetadataParseError,
    MetadataRateLimitedError,
    MetadataUnavailableError,
    UnrecognizedIdentifierError,
)
from citeformer.metadata.http import HttpRequest, HttpResponse, HttpSettings, Plan
from citeformer.metadata.ids import Identifier, parse_arxiv
from citeformer.metadata.record import Fetched
from citeformer.metadata.service import Fetcher

NS: Final = {
    "atom": "http://www.w3.org/2005/Atom",
    "arxiv": "http://arxiv.org/schemas/atom",
    "opensearch": "http://a9.com/-/spec/opensearch/1.1/",
}
ATOM: Final = "application/atom+xml"
EMPTY_FEED_TRIES: Final = 2
"""An empty feed is asked for once more before "not found" (a known arXiv flake)."""
ABS_URL: Final = "https://arxiv.org/abs/"
_SPACES: Final = re.compile(r"\s+")
_SUBCLASS: Final = re.compile(r"\.[a-z]{2}/")
# resolve_entities/no_network: the feed is data from the network, never a fetch order.
_PARSER: Final = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)


@dataclass(frozen=True, slots=True)
class Entry:
    """One paper of an Atom feed, as read (before CSL).

    Attributes:
        arxiv_id: The id without version (``2305.14627``, ``solv-int/9901001``).
        version: The version in the entry's id (``v2``), where there is one.
        title: The title, whitespace collapsed.
        summary: The abstract, whitespace collapsed.
        authors: Author names as written.
        published: ``<published>`` (the first version's date).
        updated: ``<updated>`` (the latest version's date).
        published_doi: ``arxiv:doi``, the published version's DOI.
        journal_ref: ``arxiv:journal_ref``.
        comment: ``arxiv:comment``.
        categories: The ``<category term>`` values, primary first.
    """

    arxiv_id: str
    version: str | None
    title: str
    summary: str
    authors: tuple[str, ...]
    published: str
    updated: str
    published_doi: str = ""
    journal_ref: str = ""
    comment: str = ""
    categories: tuple[str, ...] = field(default_factory=tuple)


def arxiv_request(ids: Sequence[str], settings: HttpSettings) -> HttpRequest:
    """The Atom API request for these ids (each with its version, where wanted).

    ``interval`` is left to the host's default: 3 s for arXiv's own hosts.
    """
    return HttpRequest(
        "GET",
        settings.endpoint("arxiv"),
        headers={"Accept": ATOM},
        params={"id_list": ",".join(ids), "max_results": str(len(ids))},
    )


def arxiv_plan(identifier: Identifier, settings: HttpSettings) -> Plan[Fetched]:
    """Fetch one arXiv paper.

    Args:
        identifier: An ``arxiv`` identifier (value without version; ``version``
            optional: with it, that version is fetched).
        settings: The ``arxiv`` endpoint and the rest of the HTTP settings.

    Returns:
        The record: CSL with the canonical ``arxiv:`` id, the abstract as content.

    Raises:
        MetadataNotFoundError: arXiv has no such paper, or rejected the id.
        MetadataParseError: The answer is not an Atom feed, or reports a bad query.
        MetadataRateLimitedError: arXiv answered "Rate exceeded.".
        MetadataUnavailableError: An unexpected HTTP status.
    """
    return (yield from _one([identifier], settings))[0]


def arxiv_batch_plan(
    identifiers: Sequence[Identifier], settings: HttpSettings
) -> Plan[list[Fetched]]:
    """Fetch several arXiv papers in one request, returned in the identifiers' order.

    Repeated identifiers are asked for once and returned at each of their places.
    Keep batches modest (arXiv suggests well under a few hundred ids; the query string
    grows with each).

    Args:
        identifiers: ``arxiv`` identifiers.
        settings: The ``arxiv`` endpoint and the rest of the HTTP settings.

    Returns:
        One record per identifier, in order.

    Raises:
        MetadataNotFoundError: Some ids are unknown to arXiv, even after asking twice
            (the message names them), or arXiv rejected an id.
        MetadataParseError: The answer is not an Atom feed, or reports a bad query.
        MetadataRateLimitedError: arXiv answered "Rate exceeded.".
        MetadataUnavailableError: An unexpected HTTP status.
    """
    if not identifiers:
        return []
    return (yield from _one(identifiers, settings))


def _one(identifiers: Sequence[Identifier], settings: HttpSettings) -> Plan[list[Fetched]]:
    wanted = list(dict.fromkeys(_query_id(i) for i in identifiers))
    found: dict[str, Fetched] = {}
    for _ in range(EMPTY_FEED_TRIES):
        # An empty (or short) feed for valid ids is a known flake: the missing ones are
        # asked for once more before they are reported.
        missing = [q for q in wanted if q not in found]
        response = yield arxiv_request(missing, settings)
        entries = parse_feed(response, missing)
        for query in missing:
            entry = _match(query, entries)
            if entry is not None:
                found[query] = entry_to_fetched(entry, response, requested=query)
        if len(found) == len(wanted):
            break
    missing = [q for q in wanted if q not in found]
    if missing:
        raise MetadataNotFoundError(
            f"arXiv has no paper {', '.join(missing)} (asked {EMPTY_FEED_TRIES} times, "
            "no entry came back): check the id (e.g. 2305.14627 or solv-int/9901001) on "
            "https://arxiv.org/abs/<id>",
            identifier="arxiv:" + parse_arxiv(missing[0])[0],
        )
    return [found[_query_id(i)] for i in identifiers]


def parse_feed(response: HttpResponse, asked: Sequence[str] = ()) -> list[Entry]:
    """The papers of an Atom answer (none for an empty feed).

    Args:
        response: The API's answer (any status: error entries come with 400 or 200).
        asked: The ids asked for, for the messages.

    Returns:
        The entries in the feed's order (possibly not the order asked).

    Raises:
        MetadataNotFoundError: An error entry about an id (arXiv rejected it).
        MetadataParseError: Not an Atom feed, or an error entry about the query.
        MetadataRateLimitedError: The plain-text "Rate exceeded." answer.
        MetadataUnavailableError: Another status with no feed to read.
    """
    what = ", ".join(asked) or "the query"
    key = "arxiv:" + parse_arxiv(asked[0])[0] if asked else None
    body = response.content.strip()
    if body.lower().startswith(b"rate exceeded"):
        raise MetadataRateLimitedError(
            f"arXiv is rate limiting citeformer ({response.status} 'Rate exceeded.') while "
            f"fetching {what}: wait a minute and retry (arXiv allows one request every 3 s)",
            identifier=key,
        )
    try:
        root = etree.fromstring(body, parser=_PARSER) if body else None
    except etree.XMLSyntaxError:
        root = None
    if root is None or root.tag != f"{{{NS['atom']}}}feed":
        if response.status == 404:
            raise MetadataNotFoundError(
                f"arXiv answered 404 for {what}: check the id, and that CITEFORMER_ARXIV_URL "
                "points at the API (https://export.arxiv.org/api/query)",
                identifier=key,
            )
        if response.status != 200 and response.status != 400:
            raise MetadataUnavailableError(
                f"arXiv answered {response.status} for {what}; try again later",
                identifier=key,
                status=response.status,
            )
        raise MetadataParseError(
            f"arXiv's answer for {what} ({response.url}) is not an Atom feed; check that "
            "CITEFORMER_ARXIV_URL points at the API (https://export.arxiv.org/api/query)",
            identifier=key,
        )
    entries: list[Entry] = []
    for node in root.iterfind("atom:entry", NS):
        _raise_for_error(node, what, key)
        entry = _entry(node)
        if entry is not None:
            entries.append(entry)
    if not entries and response.status != 200:
        raise MetadataUnavailableError(
            f"arXiv answered {response.status} with no paper for {what}; try again later",
            identifier=key,
            status=response.status,
        )
    return entries


def entry_to_fetched(
    entry: Entry, response: HttpResponse, *, requested: str | None = None
) -> Fetched:
    """The record of one entry: CSL metadata, the abstract as content.

    Args:
        entry: The parsed entry.
        response: The answer it came in (for provenance).
        requested: The id as asked. It gives the canonical id (so that the record's id
            is the fetcher's cache key, whatever spelling arXiv answers with), and when
            it names a version, the URL names it too.
    """
    asked, asked_version = parse_arxiv(requested) if requested else (entry.arxiv_id, None)
    version = asked_version or entry.version
    data: dict[str, Any] = {
        "type": "article",
        "title": entry.title,
        "author": [n for n in (csl.parse_name(a) for a in entry.authors) if n],
        "publisher": "arXiv",
        "number": entry.arxiv_id,
        "DOI": f"10.48550/arXiv.{entry.arxiv_id}",
        "URL": ABS_URL + entry.arxiv_id + (asked_version or ""),
        "issued": csl.date_parts(entry.published),
    }
    if version:
        data["version"] = version
    if entry.categories:
        data["keyword"] = ", ".join(entry.categories)
    related = [
        f"{label}: {value}"
        for label, value in (
            ("Published version DOI", entry.published_doi),
            ("Journal reference", entry.journal_ref),
        )
        if value
    ]
    if related:
        # csl.normalize collapses whitespace in strings, so lines are joined with "; ".
        data["note"] = "; ".join(related)
    metadata = csl.normalize(data, id="arxiv:" + asked)
    extra: dict[str, Any] = {
        "service": "arxiv",
        "payload_sha256": hashlib.sha256(response.content).hexdigest(),
        "version": version,
        "updated": entry.updated,
        "categories": list(entry.categories),
    }
    for name in ("published_doi", "journal_ref", "comment"):
        if getattr(entry, name):
            extra[name] = getattr(entry, name)
    return Fetched(metadata, entry.summary, response.url, extra)


def _query_id(identifier: Identifier) -> str:
    value, version = parse_arxiv(identifier.value)
    return value + (identifier.version or version or "")


def _match(query: str, entries: Sequence[Entry]) -> Entry | None:
    """The entry answering ``query`` (``2305.14627``, ``2305.14627v1``, ``math.GT/0309136``)."""
    arxiv, version = parse_arxiv(query)
    for entry in entries:
        if _bare(entry.arxiv_id) == _bare(arxiv) and (version is None or entry.version == version):
            return entry
    return None


def _bare(arxiv: str) -> str:
    """An id compared across spellings: arXiv answers ``math.GT/0309136`` as ``math/0309136``."""
    return _SUBCLASS.sub("/", arxiv.lower())


def _raise_for_error(node: Any, what: str, key: str | None) -> None:
    title = _text(node, "atom:title")
    ident = _text(node, "atom:id")
    authors = [_text(a, "atom:name") for a in node.iterfind("atom:author", NS)]
    if not (title == "Error" and ("api/errors" in ident or "arXiv api core" in authors)):
        return
    summary = _text(node, "atom:summary") or ident
    if "id" in summary.lower().split() or "_id_" in ident or "id_list" in summary:
        raise MetadataNotFoundError(
            f"arXiv rejected {what}: {summary}. Check the id (e.g. 2305.14627 or solv-int/9901001)",
            identifier=key,
        )
    raise MetadataParseError(f"arXiv rejected the query for {what}: {summary}", identifier=key)


def _entry(node: Any) -> Entry | None:
    ident = _text(node, "atom:id")
    try:
        arxiv, version = parse_arxiv(ident)
    except UnrecognizedIdentifierError:
        return None  # not a paper (an entry without an abs id carries nothing to cite)
    primary = node.find("arxiv:primary_category", NS)
    categories = [c.get("term", "") for c in node.iterfind("atom:category", NS)]
    if primary is not None and primary.get("term"):
        first = primary.get("term")
        categories = [first, *[c for c in categories if c != first]]
    return Entry(
        arxiv_id=arxiv,
        version=version,
        title=_text(node, "atom:title"),
        summary=_text(node, "atom:summary"),
        authors=tuple(
            name for a in node.iterfind("atom:author", NS) if (name := _text(a, "atom:name"))
        ),
        published=_text(node, "atom:published"),
        updated=_text(node, "atom:updated"),
        published_doi=_text(node, "arxiv:doi"),
        journal_ref=_text(node, "arxiv:journal_ref"),
        comment=_text(node, "arxiv:comment"),
        categories=tuple(c for c in categories if c),
    )


def _text(node: Any, path: str) -> str:
    """The element's text with whitespace collapsed (old answers came hard-wrapped)."""
    found = node.find(path, NS)
    if found is None:
        return ""
    return _SPACES.sub(" ", "".join(found.itertext())).strip()


# The cache key keeps an explicitly asked version (v1 and the latest are different
# records); the canonical metadata id never has one.
ARXIV_FETCHER: Final = Fetcher(
    "arxiv", 1, key=lambda i: "arxiv:" + i.value + (i.version or ""), plan=arxiv_plan
)
"""The arXiv fetcher the service runs and caches."""
