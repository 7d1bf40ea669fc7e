"""Reading an input given as a path or as its text, and the shared result type."""

from __future__ import annotations

from pathlib import Path

import pytest

from citeformer.metadata.errors import MetadataParseError
from citeformer.metadata.files import ParseProblem, ParseResult, read_text_or_path
from citeformer.metadata.record import Fetched


def test_text_is_the_content_itself() -> None:
    assert read_text_or_path("@misc{k, title={T}}") == ("@misc{k, title={T}}", "")
    assert read_text_or_path("\ufeffTY  - GEN") == ("TY  - GEN", "")
    assert read_text_or_path("x" * 10_000) == ("x" * 10_000, "")  # too long for a name


def test_a_path_or_a_string_naming_a_file_is_read(tmp_path: Path) -> None:
    path = tmp_path / "refs.bib"
    path.write_bytes("\ufeff@misc{k, title={Müller}}".encode())
    assert read_text_or_path(path) == ("@misc{k, title={Müller}}", str(path))
    assert read_text_or_path(str(path)) == ("@misc{k, title={Müller}}", str(path))
    assert read_text_or_path(b"@misc{k}") == ("@misc{k}", "")


def test_undecodable_bytes_say_where_and_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "latin1.ris"
    path.write_bytes("TI  - Müller".encode("latin-1"))
    with pytest.raises(MetadataParseError, match=r"not UTF-8 \(byte 0xfc at offset 7\).*UTF-8"):
        read_text_or_path(path)


def test_missing_files_are_said_plainly(tmp_path: Path) -> None:
    with pytest.raises(MetadataParseError, match="no such file"):
        read_text_or_path(str(tmp_path / "missing.bib"))
    with pytest.raises(MetadataParseError, match="cannot read"):
        read_text_or_path(tmp_path / "missing.ris")
    with pytest.raises(MetadataParseError, match="cannot read"):
        read_text_or_path(tmp_path)  # a folder


def test_a_parse_result_is_a_list_with_problems() -> None:
    entry = Fetched({"id": "bibtex:k", "type": "book", "title": "T"})
    problem = ParseProblem("entry 'x' (line 3)", "malformed, left out")
    result = ParseResult([entry], [problem])
    assert result == [entry] and result.entries == [entry]
    assert str(problem) == "entry 'x' (line 3): malformed, left out" and problem.dropped
    assert "problems=" in repr(result)
