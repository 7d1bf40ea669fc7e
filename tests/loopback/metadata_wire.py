"""doi.org and arXiv on one loopback host, answering from the recorded wire samples."""

from __future__ import annotations

import json

import pytest

from tests.loopback.server import Received, Reply
from tests.shared_data import wire_dir

CSL = "application/vnd.citationstyles.csl+json"
DOI = "10.1038/s41586-023-06221-2"
ARXIV = "arXiv:2305.14627"


def recorded(name: str) -> bytes:
    """One recorded sample from ``../shared/wire``."""
    path = wire_dir() / name
    if not path.is_file():
        pytest.fail(f"recorded wire sample {path} is missing (see ../shared/wire/README.md)")
    return path.read_bytes()


def services(request: Received) -> Reply:
    """``/doi/<doi>`` (a DOI ending in ``missing`` is 404) and ``/arxiv``."""
    if request.path.startswith("/doi/"):
        doi = request.path.removeprefix("/doi/")
        if doi.endswith("missing"):
            return Reply(404, raw=b"DOI not found", headers={"Content-Type": "text/plain"})
        record = {**json.loads(recorded(f"crossref-csl-{DOI.replace('/', '_')}.json")), "DOI": doi}
        record["abstract"] = "<jats:p>AI helps science.</jats:p>"
        return Reply(200, raw=json.dumps(record).encode(), headers={"Content-Type": CSL})
    if request.path.startswith("/arxiv"):
        body = recorded("arxiv-2305.14627.atom.xml")
        return Reply(200, raw=body, headers={"Content-Type": "application/atom+xml"})
    return Reply(404, raw=b"?", headers={"Content-Type": "text/plain"})
