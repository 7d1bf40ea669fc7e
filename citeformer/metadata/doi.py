"""DOIs: CSL-JSON by content negotiation, with the Crossref REST API as a fallback.

``GET {doi}/{DOI}`` with ``Accept: application/vnd.citationstyles.csl+json`` reaches
Crossref, DataCite and mEDRA alike (doi.org redirects to the registration agency;
the runner follows). Crossref answers with "extended citeproc", which
:func:`citeformer.metadata.csl.normalize` turns into valid CSL. When the agency
cannot serve CSL (a 406, or an HTML landing page instead of JSON), the Crossref REST
API's ``/works/{DOI}`` is asked instead; its message has another shape, mapped by
:func:`crossref_work_to_csl`.

The abstract (JATS in Crossref's records) becomes the record's ``content`` and is
taken out of the CSL metadata, so the text the model cites from is kept in one place.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from typing import Any, Final

from citeformer.metadata import csl
from citeformer.metadata.errors import (
    MetadataNotFoundError,
    MetadataParseError,
    MetadataUnavailableError,
)
from citeformer.metadata.http import HttpRequest, HttpResponse, HttpSettings, Plan
from citeformer.metadata.ids import Identifier, doi_id, doi_url_path, normalize_doi
from citeformer.metadata.record import Fetched
from citeformer.metadata.service import Fetcher

CSL_JSON: Final = "application/vnd.citationstyles.csl+json"
NOT_FOUND: Final = frozenset({404, 410})
"""Statuses meaning the DOI is not registered."""
NO_CSL: Final = frozenset({406, 415})
"""Statuses meaning the agency cannot serve CSL-JSON (ask Crossref's REST API)."""
RATE_LIMIT_HEADERS: Final = (
    "x-api-pool",
    "x-rate-limit-limit",
    "x-rate-limit-interval",
    "x-concurrency-limit",
)
"""Crossref's limit headers, kept in ``extra`` as sent (limits change; never hard-coded)."""
# Crossref REST names that differ from the transform's (CSL) names.
_REST_RENAMES: Final = {
    "short-container-title": "container-title-short",
    "short-title": "title-short",
    "publisher-location": "publisher-place",
    "edition-number": "edition",
}
_REST_DATES: Final = ("issued", "published-print", "published-online", "published", "created")


def doi_plan(identifier: Identifier, settings: HttpSettings) -> Plan[Fetched]:
    """Fetch a DOI's metadata: content negotiation, then Crossref REST when needed.

    Args:
        identifier: A ``doi`` identifier (its value is the DOI, any common spelling).
        settings: Endpoints (``doi``, ``crossref``) and the rest of the HTTP settings.

    Returns:
        The record: valid CSL with the canonical ``doi:`` id, the abstract as content.

    Raises:
        MetadataNotFoundError: The DOI is not registered (404), or no service has it.
        MetadataUnavailableError: The service answered with an unexpected status.
        MetadataParseError: The answer claimed to be a record but is not one.
    """
    doi = normalize_doi(identifier.value)
    key = doi_id(doi)
    response = yield HttpRequest(
        "GET",
        f"{settings.endpoint('doi')}/{doi_url_path(doi)}",
        headers={"Accept": CSL_JSON},
    )
    if response.status in NOT_FOUND:
        raise MetadataNotFoundError(
            f"DOI {doi} is not registered (doi.org answered {response.status}): check the "
            "DOI for typos (compare it with the one printed on the article)",
            identifier=key,
        )
    data = _json_object(response) if 200 <= response.status < 300 else None
    if data is not None:
        return _record(data, doi, key, response, "content-negotiation")
    if response.status not in NO_CSL and not 200 <= response.status < 300:
        raise MetadataUnavailableError(
            f"doi.org answered {response.status} for DOI {doi}; try again later, or check "
            "the endpoint (CITEFORMER_DOI_URL)",
            identifier=key,
            status=response.status,
        )
    # A 406 or a non-JSON page: the agency does not negotiate CSL; Crossref may still
    # hold the record in its own (REST) shape.
    why = f"{response.status}" if response.status in NO_CSL else "no JSON"
    return (yield from crossref_plan(doi, settings, why=why))


def crossref_plan(doi: str, settings: HttpSettings, *, why: str = "") -> Plan[Fetched]:
    """Fetch a DOI from the Crossref REST API (``/works/{DOI}``).

    Args:
        doi: The DOI (any common spelling).
        settings: Endpoints (``crossref``) and the rest of the HTTP settings.
        why: What content negotiation answered, for the not-found message.

    Returns:
        The record, as :func:`doi_plan` returns it.

    Raises:
        MetadataNotFoundError: Crossref has no record of the DOI.
        MetadataUnavailableError: Crossref answered with an unexpected status.
        MetadataParseError: The answer is not a Crossref ``work`` message.
    """
    doi = normalize_doi(doi)
    key = doi_id(doi)
    mailto = os.environ.get("CITEFORMER_CROSSREF_MAILTO", "").strip()
    response = yield HttpRequest(
        "GET",
        f"{settings.endpoint('crossref')}/works/{doi_url_path(doi)}",
        headers={"Accept": "application/json"},
        params={"mailto": mailto} if mailto else {},
    )
    if response.status in NOT_FOUND:
        before = f"doi.org gave no CSL-JSON ({why}) and " if why else ""
        raise MetadataNotFoundError(
            f"DOI {doi} was not found: {before}Crossref has no record of it "
            f"({response.status}). Check the DOI for typos; if it is right, its "
            "registration agency offers no metadata citeformer can read, so pass "
            "Source(text, metadata) by hand",
            identifier=key,
        )
    if not 200 <= response.status < 300:
        raise MetadataUnavailableError(
            f"Crossref answered {response.status} for DOI {doi}; try again later, or check "
            "the endpoint (CITEFORMER_CROSSREF_URL)",
            identifier=key,
            status=response.status,
        )
    envelope = _json_object(response)
    message = envelope.get("message") if envelope is not None else None
    if not isinstance(message, Mapping) or envelope is None or envelope.get("status") != "ok":
        raise MetadataParseError(
            f"Crossref's answer for DOI {doi} ({response.url}) is not a work record "
            '({"status": "ok", "message": {...}}); check CITEFORMER_CROSSREF_URL points at '
            "the Crossref REST API",
            identifier=key,
        )
    return _record(crossref_work_to_csl(message), doi, key, response, "crossref-rest")


def crossref_work_to_csl(message: Mapping[str, Any]) -> dict[str, Any]:
    """Almost-CSL from a Crossref REST ``work`` message (normalise it afterwards).

    The REST shape differs from the transform's: ``title`` and ``container-title`` are
    lists (``csl.normalize`` takes their first string), and several keys have other
    names (``short-container-title``, ``publisher-location``...).

    Args:
        message: The ``message`` of a ``{"message-type": "work"}`` answer.

    Returns:
        A dict :func:`citeformer.metadata.csl.normalize` maps to valid CSL.
    """
    out: dict[str, Any] = {}
    for name, value in message.items():
        out[_REST_RENAMES.get(name, name)] = value
    # The REST API's `issued` is the earliest publication date; older records may
    # have only the print/online dates, or only `created`.
    for name in _REST_DATES:
        date = message.get(name)
        if isinstance(date, Mapping) and _has_date_parts(date):
            out["issued"] = date
            break
    event = message.get("event")
    if isinstance(event, Mapping):
        out.pop("event", None)
        if event.get("name"):
            out["event-title"] = event["name"]
        if event.get("location"):
            out["event-place"] = event["location"]
    return out


def _record(
    data: Mapping[str, Any], doi: str, key: str, response: HttpResponse, service: str
) -> Fetched:
    metadata = csl.normalize(data, id=key)
    metadata.setdefault("DOI", doi)
    # Crossref still writes http://dx.doi.org/ URLs; the resolver's https form is canonical.
    url = str(metadata.get("URL", ""))
    if not url or url.lower().startswith(("http://dx.doi.org/", "http://doi.org/")):
        metadata["URL"] = f"https://doi.org/{doi_url_path(str(metadata['DOI']))}"
    content = str(metadata.pop("abstract", ""))
    extra: dict[str, Any] = {
        "service": service,
        "payload_sha256": hashlib.sha256(response.content).hexdigest(),
    }
    limits = {h: response.headers[h] for h in RATE_LIMIT_HEADERS if h in response.headers}
    if limits:
        extra["rate_limit"] = limits
    return Fetched(metadata, content, response.url, extra)


def _json_object(response: HttpResponse) -> dict[str, Any] | None:
    """The body as a JSON object, or None when it is not one (an HTML page...)."""
    if "html" in response.content_type or "xml" in response.content_type:
        return None
    try:
        data = json.loads(response.content.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _has_date_parts(date: Mapping[str, Any]) -> bool:
    parts = date.get("date-parts")
    return bool(isinstance(parts, list) and parts and isinstance(parts[0], list) and parts[0])


DOI_FETCHER: Final = Fetcher("doi", 1, key=lambda i: doi_id(i.value), plan=doi_plan)
"""The DOI fetcher the service runs and caches."""
