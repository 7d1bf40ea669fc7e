"""Identifier recognition and canonical ids (deterministic across processes)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from citeformer.metadata import UnrecognizedIdentifierError, recognize
from citeformer.metadata.ids import (
    arxiv_id,
    bibtex_id,
    doi_id,
    doi_url_path,
    normalize_doi,
    parse_arxiv,
    pdf_id,
    url_id,
)

SICI = "10.1002/(SICI)1097-4571(199806)49:8<693::AID-ASI4>3.0.CO;2-0"


@pytest.mark.parametrize(
    "spelling",
    [
        "10.1038/s41586-023-06221-2",
        "https://doi.org/10.1038/s41586-023-06221-2",
        "http://dx.doi.org/10.1038/S41586-023-06221-2",
        "doi:10.1038/s41586-023-06221-2",
        "DOI 10.1038/s41586-023-06221-2.",
        "doi: 10.1038%2Fs41586-023-06221-2;",
    ],
)
def test_every_common_doi_spelling_has_one_id(spelling: str) -> None:
    assert doi_id(spelling) == "doi:10.1038/s41586-023-06221-2"
    assert recognize(spelling).kind == "doi"


def test_sici_dois_survive_and_are_encoded_for_urls() -> None:
    assert normalize_doi(SICI) == SICI
    path = doi_url_path(SICI)
    assert "<" not in path and "#" not in path and ";" not in path
    assert path.startswith("10.1002/")


@pytest.mark.parametrize(
    ("spelling", "expected"),
    [
        ("2305.14627", ("2305.14627", None)),
        ("arXiv:2305.14627v2", ("2305.14627", "v2")),
        ("https://arxiv.org/abs/2305.14627v1", ("2305.14627", "v1")),
        ("https://arxiv.org/pdf/2305.14627.pdf", ("2305.14627", None)),
        ("10.48550/arXiv.2305.14627", ("2305.14627", None)),
        ("https://doi.org/10.48550/ARXIV.2305.14627", ("2305.14627", None)),
        ("solv-int/9901001v1", ("solv-int/9901001", "v1")),  # a first "v" inside the id
        ("math.GT/0309136", ("math.GT/0309136", None)),
        ("0704.0001", ("0704.0001", None)),
    ],
)
def test_arxiv_ids_old_and_new(spelling: str, expected: tuple[str, str | None]) -> None:
    assert parse_arxiv(spelling) == expected
    identifier = recognize(spelling)
    assert (identifier.kind, identifier.value, identifier.version) == ("arxiv", *expected)
    assert arxiv_id(spelling) == "arxiv:" + expected[0]


def test_urls_and_files() -> None:
    assert recognize("https://example.com/page").kind == "url"
    assert url_id("HTTPS://Example.COM:443/a?b=1#frag") == url_id("https://example.com/a?b=1")
    assert url_id("https://example.com/a") != url_id("https://example.com/b")
    for name, kind in [("a.pdf", "pdf"), ("refs.BIB", "bibtex"), ("x.ris", "ris"),
                       ("zotero.json", "csl_json")]:  # fmt: skip
        assert recognize(name).kind == kind
        assert recognize(Path(name)).kind == kind
    assert pdf_id(b"%PDF-1.4") == pdf_id(b"%PDF-1.4") != pdf_id(b"%PDF-1.5")
    assert pdf_id(b"x").startswith("sha256:") and len(pdf_id(b"x")) == len("sha256:") + 16
    assert bibtex_id(" knuth84 ") == "bibtex:knuth84"


@pytest.mark.parametrize("bad", ["", "hello", "10.12/x", "notes.txt", "arXiv:12345"])
def test_unrecognized_identifiers_say_what_is_accepted(bad: str) -> None:
    with pytest.raises(UnrecognizedIdentifierError, match=r"DOI|arXiv|citeformer reads"):
        recognize(bad)


def test_ids_are_the_same_in_every_process() -> None:
    code = (
        "from citeformer.metadata.ids import url_id, pdf_id, doi_id;"
        "print(url_id('https://example.com/x'), pdf_id(b'abc'), doi_id('10.1000/ABC'))"
    )
    outputs = set()
    for seed in ("0", "1", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             env=env, check=True)  # fmt: skip
        outputs.add(run.stdout)
    assert len(outputs) == 1
