"""``citeformer verify``, ``render``, ``fetch``, ``styles`` and ``cache`` as subprocesses."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import bibtexparser
import pytest
import rispy

from citeformer import Citeformer, GenerationResult
from citeformer.backends.mock import MockBackend
from citeformer.render import resolve_style
from tests.cli.conftest import SOURCES_JSON, Run, one_error_line
from tests.loopback import metadata_wire as wire
from tests.loopback.server import LoopbackServer
from tests.shared_data import ROOT

DOI, ARXIV = wire.DOI, wire.ARXIV


def saved_result(tmp_path: Path, reply: str, name: str = "result.json") -> Path:
    """A result made from the example sources, saved as generate --format json saves it."""
    from citeformer.cli.inputs import json_sources

    sources = json_sources(SOURCES_JSON.read_text(encoding="utf-8"), "examples")
    result = Citeformer(MockBackend(reply)).generate("How tall is it?", sources)
    path = tmp_path / name
    path.write_text(result.to_json(indent=2), encoding="utf-8")
    return path


SUPPORTED = (
    "The Eiffel Tower is 330 metres tall [1]. Gustave Eiffel was a French civil engineer [3]."
)
UNSUPPORTED = "Bananas are yellow fruits rich in potassium [1]."


def test_verify_passes_and_fails_under_a_threshold(cli: Run, tmp_path: Path) -> None:
    good = saved_result(tmp_path, SUPPORTED, "good.json")
    bad = saved_result(tmp_path, UNSUPPORTED, "bad.json")
    passed = cli("verify", str(good), "--scorer", "lexical", "--fail-under", "0.9")
    assert passed.code == 0, passed.stderr
    assert "citation recall 1.00, citation precision 1.00" in passed.stdout
    failed = cli("verify", str(bad), "--scorer", "lexical", "--fail-under", "0.5")
    assert failed.code == 1
    assert "citation recall 0.00 is below --fail-under 0.5" in failed.stderr
    assert "not supported" in failed.stdout  # the report is still printed
    # Without --fail-under a report is only a report.
    assert cli("verify", str(bad), "--scorer", "lexical").code == 0


def test_verify_json_and_markdown(cli: Run, tmp_path: Path) -> None:
    good = saved_result(tmp_path, SUPPORTED)
    report = cli("verify", str(good), "--scorer", "lexical", "--format", "json").json()
    assert report["citation_precision"] == 1.0
    assert [s["cited_ids"] for s in report["sentences"]] == [[1], [3]]
    markdown = cli("verify", str(good), "--scorer", "lexical", "--format", "markdown").stdout
    assert "| citation recall | citation precision |" in markdown
    assert "| 1 | supported" in markdown


def test_verify_reads_stdin_and_streamed_output(cli: Run, tmp_path: Path) -> None:
    whole = json.loads(saved_result(tmp_path, SUPPORTED).read_text(encoding="utf-8"))
    streamed = "\n".join(
        [json.dumps({"type": "text", "text": "The"}), json.dumps({"type": "result", **whole})]
    )
    ran = cli("verify", "-", "--scorer", "lexical", "--format", "json", stdin=streamed)
    assert ran.code == 0, ran.stderr
    assert ran.json()["citation_recall"] == 1.0


@pytest.mark.parametrize(
    ("content", "code", "words"),
    [
        ("not json at all", 3, "holds no result"),
        (
            '{"schema_version": 1, "text": "x", "citations": [{"source_id": 4}]}',
            3,
            "GenerationResult",
        ),
        ('{"text": "x", "citations": [{"source_id": 1, "span": [0, 3]}]}', 3, "MIGRATING.md"),
        ('{"schema_version": 99, "text": "x", "citations": []}', 3, "schema_version"),
        ('[{"content": "a", "metadata": {}}]', 3, "holds no result"),
    ],
)
def test_verify_rejects_what_is_not_a_result(
    cli: Run, tmp_path: Path, content: str, code: int, words: str
) -> None:
    path = tmp_path / "odd.json"
    path.write_text(content, encoding="utf-8")
    ran = cli("verify", str(path), "--scorer", "lexical")
    assert ran.code == code, ran.stderr
    assert words in one_error_line(ran)


def test_verify_usage(cli: Run, tmp_path: Path) -> None:
    good = saved_result(tmp_path, SUPPORTED)
    assert cli("verify", str(good), "--fail-under", "80").code == 2
    assert cli("verify", str(good), "--scorer", "oracle").code == 2
    assert cli("verify", str(tmp_path / "missing.json")).code == 3


@pytest.mark.parametrize("style", ["ieee", "apa", "chicago-note-bibliography"])
@pytest.mark.parametrize("fmt", ["text", "markdown", "html", "json"])
def test_render_a_bibliography(cli: Run, style: str, fmt: str) -> None:
    ran = cli("render", str(SOURCES_JSON), "--style", style, "--format", fmt, "--cite", "3,1")
    assert ran.code == 0, ran.stderr
    if fmt == "json":
        document = ran.json()
        assert document["style"] == resolve_style(style).spec
        assert {e["source_id"] for e in document["entries"]} == {1, 3}
        assert all(e["text"] and e["html"] and e["markdown"] for e in document["entries"])
        return
    assert "Gustave Eiffel" in ran.stdout and "Eiffel Tower" in ran.stdout
    assert "Chrysler" not in ran.stdout  # not cited
    if fmt == "html":
        assert ran.stdout.startswith('<div class="csl-bib-body">')
        assert 'id="ref-3"' in ran.stdout
    if fmt == "markdown":
        assert '<a id="ref-1"></a>' in ran.stdout
    if style == "ieee" and fmt == "text":
        assert ran.stdout.splitlines()[0].startswith("[1] “Eiffel Tower,”")


def test_render_numbering_follows_the_citation_order(cli: Run) -> None:
    by_style = cli("render", str(SOURCES_JSON), "--cite", "3,1", "--numbering", "style")
    assert by_style.stdout.splitlines()[0].startswith("[1] “Gustave Eiffel,”")


def test_render_a_saved_result(cli: Run, tmp_path: Path) -> None:
    path = saved_result(tmp_path, SUPPORTED)
    ran = cli("render", str(path), "--style", "apa", "--inline")
    assert ran.code == 0, ran.stderr
    assert "(Eiffel Tower, 2024)" in ran.stdout or "(“Eiffel Tower,” 2024)" in ran.stdout
    document = cli("render", str(path), "--format", "json").json()
    for marker in document["markers"]:
        assert document["text"][marker["start"] : marker["end"]] == marker["text"]
    assert [e["source_id"] for e in document["entries"]] == [1, 3]


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (["--cite", "4"], 2, "outside the 3 source(s)"),
        (["--cite", "one"], 2, "--cite takes source numbers"),
        (["--style", "no-such-style"], 3, "unknown citation style"),
        (["--locale", "xx-XX"], 3, "locale"),
        (["--inline"], 2, "--inline is for a saved result"),
    ],
)
def test_render_errors(cli: Run, args: list[str], code: int, words: str) -> None:
    ran = cli("render", str(SOURCES_JSON), *args)
    assert ran.code == code, ran.stderr
    assert words in one_error_line(ran)


def test_render_malformed_bibtex_exits_3(cli: Run, tmp_path: Path) -> None:
    bib = tmp_path / "broken.bib"
    bib.write_text("@article{key, title = {Unclosed", encoding="utf-8")
    ran = cli("render", str(bib))
    assert ran.code == 3, ran.stderr
    assert "broken.bib" in one_error_line(ran)


@pytest.fixture
def services(loopback: LoopbackServer) -> dict[str, str]:
    loopback.reset(wire.services)
    return {
        "CITEFORMER_DOI_URL": loopback.url + "/doi",
        "CITEFORMER_ARXIV_URL": loopback.url + "/arxiv",
    }


def test_fetch_online_then_offline(
    cli: Run, services: dict[str, str], loopback: LoopbackServer
) -> None:
    online = cli("fetch", DOI, ARXIV, "--content", env=services)
    assert online.code == 0, online.stderr
    records: list[dict[str, Any]] = online.json()
    assert [r["metadata"]["id"] for r in records] == [f"doi:{DOI}", "arxiv:2305.14627"]
    assert records[0]["content"] == "AI helps science."
    assert len(loopback.requests) == 2
    loopback.reset(wire.services)
    offline = cli("fetch", DOI, ARXIV, "--offline", env=services)
    assert offline.code == 0, offline.stderr
    assert [r["metadata"] for r in offline.json()] == [r["metadata"] for r in records]
    assert all("content" not in r for r in offline.json())  # only with --content
    assert loopback.requests == []  # the cache answered


def test_fetch_writes_bibtex_and_ris_that_read_back(cli: Run, services: dict[str, str]) -> None:
    bib = cli("fetch", DOI, ARXIV, "--format", "bibtex", env=services)
    assert bib.code == 0, bib.stderr
    library = bibtexparser.parse_string(bib.stdout)
    assert not library.failed_blocks
    assert [e.entry_type for e in library.entries] == ["article", "misc"]
    assert library.entries[0]["doi"] == DOI
    ris = cli("fetch", DOI, ARXIV, "--format", "ris", "--offline", env=services)
    assert ris.code == 0, ris.stderr
    entries = rispy.loads(ris.stdout)
    assert [e["type_of_reference"] for e in entries] == ["JOUR", "GEN"]
    assert entries[0]["doi"] == DOI


def test_fetch_failures(cli: Run, services: dict[str, str], loopback: LoopbackServer) -> None:
    miss = cli("fetch", "10.5555/never-fetched", "--offline", env=services)
    assert miss.code == 4
    assert "offline" in one_error_line(miss)
    assert loopback.requests == []
    assert cli("fetch", "10.5555/missing", env=services).code == 3
    assert cli("fetch", "not an identifier", env=services).code == 3
    both = cli("fetch", DOI, "--refresh", "--offline", env=services)
    assert both.code == 2 and "contradict" in one_error_line(both)


def test_fetch_is_concurrent(cli: Run, services: dict[str, str], loopback: LoopbackServer) -> None:
    loopback.latency = 0.5
    dois = [f"10.5555/concurrent.{i}" for i in range(12)]
    started = time.perf_counter()
    ran = cli("fetch", *dois, env=services)
    elapsed = time.perf_counter() - started
    assert ran.code == 0, ran.stderr
    assert [r["metadata"]["id"] for r in ran.json()] == [f"doi:{d}" for d in dois]
    # 12 x 0.5 s one after another is 6 s; concurrently about one request's time plus
    # the interpreter's start.
    assert elapsed < 5.0
    assert "fetching (12)" in ran.stderr and "12 of 12 done" in ran.stderr


def test_cache_info_and_clear(cli: Run, services: dict[str, str]) -> None:
    assert "records\t0" in cli("cache", "info").stdout
    cli("fetch", DOI, ARXIV, env=services)
    info = cli("cache", "info").stdout
    assert "records\t2" in info and "metadata.sqlite3" in info
    cleared = cli("cache", "clear")
    assert cleared.code == 0 and "removed 2 record(s)" in cleared.stdout
    assert "records\t0" in cli("cache", "info").stdout


def test_styles(cli: Run) -> None:
    notes = cli("styles", "--format", "note").stdout.splitlines()
    assert notes and all(line.split("\t")[1] == "note" for line in notes)
    found = cli("styles", "--search", "nature", "--json").json()
    assert "nature" in [s["id"] for s in found]
    assert cli("styles", "--format", "sideways").code == 2


def test_result_from_generate_survives_render_and_verify(cli: Run, tmp_path: Path) -> None:
    path = saved_result(tmp_path, SUPPORTED)
    result = GenerationResult.from_json(path.read_text(encoding="utf-8"))
    rendered = cli("render", str(path)).stdout
    assert rendered.strip() == result.format().strip()


def test_render_takes_every_file_kind_in_a_folder(cli: Run, tmp_path: Path) -> None:
    folder = tmp_path / "library"
    folder.mkdir()
    (folder / "a.bib").write_text(
        "@article{knuth84, title={Literate Programming}, author={Knuth, Donald},"
        " journal={The Computer Journal}, year={1984}, abstract={On programs.}}",
        encoding="utf-8",
    )
    (folder / "b.ris").write_text(
        "TY  - JOUR\nAU  - Hopper, Grace\nTI  - Compilers\nPY  - 1952\nAB  - Text.\nER  - \n",
        encoding="utf-8",
    )
    (folder / "c.md").write_text("# Field notes\nThe sea was calm.", encoding="utf-8")
    (folder / "d.pdf").write_bytes((ROOT / "examples" / "data" / "tides.pdf").read_bytes())
    ran = cli("render", str(folder), "--format", "json", "--offline")
    assert ran.code == 0, ran.stderr
    ids = [e["id"] for e in ran.json()["entries"]]
    assert ids[:2] == ["bibtex:knuth84", ids[1]] and ids[1].startswith("ris:")
    assert ids[2].startswith("sha256:") and ids[3].startswith("sha256:")
    texts = [e["text"] for e in ran.json()["entries"]]
    assert "Literate Programming" in texts[0] and "Compilers" in texts[1]
    assert "Field notes" in texts[2] and "Tides and the Moon" in texts[3]
