"""``--sources`` arguments to sources: files, folders, stdin (logic only, no network)."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path

import pytest

from citeformer.cli.exits import CommandError
from citeformer.cli.inputs import count_identifiers, load_sources, read_stdin, text_source
from citeformer.metadata import MetadataParseError


def _load(*arguments: str) -> list:  # type: ignore[type-arg]
    return asyncio.run(load_sources(list(arguments)))


def test_files_and_folders_in_order(tmp_path: Path) -> None:
    folder = tmp_path / "notes"
    (folder / "deep").mkdir(parents=True)
    (folder / "b.md").write_text("# Tides\nThe moon pulls the sea.", encoding="utf-8")
    (folder / "deep" / "a.txt").write_text("Waves break on the shore.", encoding="utf-8")
    (folder / ".hidden.txt").write_text("secret", encoding="utf-8")
    (folder / "skip.py").write_text("print()", encoding="utf-8")
    lines = tmp_path / "more.jsonl"
    lines.write_text(
        json.dumps({"content": "Salt water.", "metadata": {"title": "Sea"}}) + "\n\n",
        encoding="utf-8",
    )
    sources = _load(str(folder), str(lines))
    assert [s.metadata["title"] for s in sources] == ["Tides", "a", "Sea"]
    assert sources[0].content.startswith("# Tides")
    assert sources[0].metadata["id"].startswith("sha256:")


def test_the_same_text_gets_the_same_id() -> None:
    one = text_source("Same.", "a.txt", b"Same.")
    assert one.metadata["id"] == text_source("Same.", "b.txt", b"Same.").metadata["id"]


@pytest.mark.parametrize(
    ("name", "content", "words"),
    [
        ("x.jsonl", '{"content": "a"}\nnot json\n', "line 2 is not JSON"),
        ("x.jsonl", '{"content": 3}\n', "content must be a string"),
        ("x.json", "[1, 2]", "x.json': item 0: is a JSON int"),
        ("x.txt", "   ", "is empty"),
        ("x.txt", b"\xff\xfe\x00bad", "not UTF-8"),
    ],
)
def test_bad_files_say_what_is_wrong(
    tmp_path: Path, name: str, content: str | bytes, words: str
) -> None:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    with pytest.raises((CommandError, MetadataParseError)) as caught:
        _load(str(path))
    assert words in str(caught.value)


def test_stdin_once_and_only_once(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="once"):
        _load("-", "-")
    with pytest.raises(CommandError, match="no sources"):
        _load()


@pytest.mark.parametrize(
    ("text", "title"),
    [
        ("@misc{k, title={A Bib Entry}, note={x}, abstract={Body.}}", "A Bib Entry"),
        ("TY  - JOUR\nTI  - A RIS Record\nAB  - Body.\nER  - \n", "A RIS Record"),
        ('[{"content": "Body.", "metadata": {"title": "Listed"}}]', "Listed"),
        ('{"content": "a", "metadata": {"title": "L1"}}\n{"content": "b"}', "L1"),
        ("Just some plain text on stdin.", "stdin"),
    ],
)
def test_stdin_is_sniffed(monkeypatch: pytest.MonkeyPatch, text: str, title: str) -> None:
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(text.encode())))
    assert read_stdin()[0].metadata["title"] == title


def test_count_identifiers(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("x", encoding="utf-8")
    arguments = [str(tmp_path), str(tmp_path / "a.txt"), "-", "10.1/x", "arXiv:2101.00001"]
    assert count_identifiers(arguments) == 2
