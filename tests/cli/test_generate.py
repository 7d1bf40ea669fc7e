"""``citeformer generate`` through the real console script against the loopback OpenAI server."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest

from citeformer import GenerationResult
from tests.cli.conftest import SCRIPT, SOURCES_JSON, Run, command_env, one_error_line, openai_env
from tests.loopback import openai_wire as wire
from tests.loopback.server import LoopbackServer, Reply

ANSWER = wire.segments(
    ("The Eiffel Tower is 330 metres tall.", [1]),
    ("Gustave Eiffel's company built it.", [3]),
)
TEXT = "The Eiffel Tower is 330 metres tall [1]. Gustave Eiffel's company built it [3]."
OPENAI = ["--backend", "openai:gpt-test"]
QUESTION = ["generate", "How tall is the Eiffel Tower?", "--sources", str(SOURCES_JSON)]
ASK = [*QUESTION, *OPENAI]


@pytest.fixture
def served(loopback: LoopbackServer) -> dict[str, str]:
    loopback.reset(wire.answer(ANSWER))
    return openai_env(loopback)


def test_a_whole_answer_with_its_references(
    cli: Run, served: dict[str, str], loopback: LoopbackServer
) -> None:
    ran = cli(*ASK, env=served)
    assert ran.code == 0, ran.stderr
    answer, _, references = ran.stdout.partition("\n\nReferences\n")
    assert answer == TEXT
    assert references.splitlines()[0].startswith("[1] “Eiffel Tower,” Wikipedia.")
    assert references.splitlines()[1].startswith("[3] “Gustave Eiffel,”")
    request = loopback.requests[-1]
    assert request.body["model"] == "gpt-test"
    assert request.headers["authorization"] == "Bearer sk-test-cli-0123456789"
    # The schema is the guarantee on this provider: only the three sources can be cited.
    schema = request.body["response_format"]["json_schema"]["schema"]
    citations = schema["properties"]["segments"]["items"]["properties"]["citations"]
    assert citations["items"]["enum"] == [1, 2, 3]
    assert "sk-test" not in ran.stderr + ran.stdout


def test_json_output_is_a_stored_result(cli: Run, served: dict[str, str]) -> None:
    ran = cli(*ASK, "--format", "json", "--style", "apa", env=served)
    assert ran.code == 0, ran.stderr
    result = GenerationResult.from_dict(ran.json())
    assert result.text == TEXT
    assert [c.source_id for c in result.citations] == [1, 3]
    assert result.references[0].style == "apa"
    assert "verification" not in ran.json()


def test_verify_adds_the_report(cli: Run, served: dict[str, str]) -> None:
    ran = cli(*ASK, "--verify=lexical", "--format", "json", env=served)
    assert ran.code == 0, ran.stderr
    report = ran.json()["verification"]
    assert report["scorer"]["kind"] == "lexical"
    assert report["citation_recall"] == 1.0
    assert [s["cited_ids"] for s in report["sentences"]] == [[1], [3]]
    text = cli(*ASK, "--verify", "lexical", env=served)
    assert "Verification by LexicalScorer" in text.stdout
    assert text.stdout.startswith(TEXT)


def test_bare_verify_takes_the_default_scorer(cli: Run, served: dict[str, str]) -> None:
    ran = cli(*ASK, "--verify", "--format", "json", env=served)
    assert ran.code == 0, ran.stderr
    assert ran.json()["verification"]["scorer"]["name"]


def test_stream_prints_what_the_whole_call_prints(cli: Run, served: dict[str, str]) -> None:
    whole = cli(*ASK, env=served)
    streamed = cli(*ASK, "--stream", env=served)
    assert streamed.code == 0, streamed.stderr
    assert streamed.stdout == whole.stdout


def test_stream_json_is_events_then_the_result(cli: Run, served: dict[str, str]) -> None:
    ran = cli(*ASK, "--stream", "--format", "json", "--verify=lexical", env=served)
    assert ran.code == 0, ran.stderr
    events = [json.loads(line) for line in ran.stdout.splitlines()]
    assert "".join(e["text"] for e in events if e["type"] == "text") == TEXT
    assert [e["citation"]["source_id"] for e in events if e["type"] == "citation"] == [1, 3]
    last = events[-1]
    assert last["type"] == "result" and last["verification"]["citation_precision"] == 1.0
    stored = {k: v for k, v in last.items() if k not in ("type", "verification")}
    assert GenerationResult.from_dict(stored).text == TEXT


def test_markdown_and_html(cli: Run, served: dict[str, str]) -> None:
    markdown = cli(*ASK, "--format", "markdown", env=served)
    assert "[\\[1\\]](#ref-1)" in markdown.stdout or "](#ref-1)" in markdown.stdout
    html = cli(*ASK, "--format", "html", "--style", "apa", "--inline", env=served)
    assert '<div class="csl-bib-body">' in html.stdout
    assert '(<a href="#ref-1">' in html.stdout or 'href="#ref-1"' in html.stdout


def test_stdin_sources(cli: Run, served: dict[str, str]) -> None:
    sources = SOURCES_JSON.read_text(encoding="utf-8")
    ran = cli("generate", "How tall?", "--sources", "-", *OPENAI, env=served, stdin=sources)
    assert ran.code == 0, ran.stderr
    assert ran.stdout.startswith(TEXT)


def test_a_marker_the_backend_invented_is_repaired_or_fails_strict(
    cli: Run, loopback: LoopbackServer
) -> None:
    # A host without schema support could send any number; [7] names no source.
    loopback.reset(wire.answer(wire.segments(("Tall.", [1, 7]))))
    env = openai_env(loopback)
    repaired = cli(*ASK, "--format", "json", env=env)
    assert repaired.code == 0, repaired.stderr
    assert [c["source_id"] for c in repaired.json()["citations"]] == [1]
    strict = cli(*ASK, "--strict", env=env)
    assert strict.code == 1
    assert "'[7]'" in one_error_line(strict) and "Drop --strict" in one_error_line(strict)
    assert strict.stdout == ""


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--backend", "nosuch:model"], "unknown backend"),
        (["--backend", "openai"], "names no model"),
        (["--backend", "server:http://127.0.0.1:9/v1"], "--server-kind"),
        (["--model", "x"], "--model only applies"),
        (["--stream", "--format", "html"], "--stream"),
        (["--max-tokens", "0"], "--max-tokens"),
        (["--temperature", "9"], "--temperature"),
        (["--policy", "sometimes"], "usage"),
        (["--verify=oracle"], "unknown scorer"),
    ],
)
def test_usage_errors_exit_2(cli: Run, served: dict[str, str], args: list[str], words: str) -> None:
    backend = [] if "--backend" in args else OPENAI
    ran = cli(*QUESTION, *backend, *args, env=served)
    assert ran.code == 2, ran.stderr
    assert words in one_error_line(ran)
    assert ran.stdout == ""


def test_a_missing_key_is_a_setup_error(cli: Run, loopback: LoopbackServer) -> None:
    ran = cli(*ASK, env={"OPENAI_BASE_URL": f"{loopback.url}/v1"})
    assert ran.code == 2
    assert "OPENAI_API_KEY" in one_error_line(ran)
    assert loopback.requests == []


@pytest.mark.parametrize(
    ("sources", "words"),
    [
        (["missing.jsonl"], "no such file"),
        (["empty-folder"], "holds no source files"),
        (["broken.json"], "is not JSON"),
    ],
)
def test_bad_input_exits_3(
    cli: Run, served: dict[str, str], tmp_path: Path, sources: list[str], words: str
) -> None:
    (tmp_path / "empty-folder").mkdir()
    (tmp_path / "broken.json").write_text("[{", encoding="utf-8")
    ran = cli("generate", "Q?", "--sources", *sources, *OPENAI, env=served)
    assert ran.code == 3, ran.stderr
    assert words in one_error_line(ran)


def test_an_unknown_style_exits_3_before_any_request(
    cli: Run, served: dict[str, str], loopback: LoopbackServer
) -> None:
    ran = cli(*ASK, "--style", "no-such-style", env=served)
    assert ran.code == 3
    assert "unknown citation style" in one_error_line(ran)
    assert loopback.requests == []


def test_a_failing_server_exits_4_after_retries(cli: Run, loopback: LoopbackServer) -> None:
    loopback.reset(lambda _: wire.error(503, "overloaded"))
    ran = cli(*ASK, env=openai_env(loopback))
    assert ran.code == 4
    assert len(loopback.requests) == 3  # the first attempt and two retries
    assert "503" in one_error_line(ran) or "overloaded" in one_error_line(ran)


def test_ctrl_c_during_a_stream_exits_130_and_closes_it(
    loopback: LoopbackServer, tmp_path: Path
) -> None:
    slow = wire.stream(ANSWER, size=2, event_delay=0.2)
    loopback.reset(lambda _: slow)
    process = subprocess.Popen(
        [str(SCRIPT), *ASK, "--stream"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=command_env(tmp_path, openai_env(loopback)),
    )
    assert process.stdout is not None and process.stderr is not None
    first = process.stdout.read(3)  # text is arriving: the stream is open
    assert first == b"The"
    assert loopback.open_streams == 1
    process.send_signal(signal.SIGINT)
    code = process.wait(timeout=30)
    stderr = process.stderr.read().decode()
    process.stdout.close()
    process.stderr.close()
    assert code == 130, stderr
    assert "Traceback" not in stderr and "never awaited" not in stderr
    assert "interrupted" in stderr
    deadline = time.monotonic() + 10
    while loopback.open_streams and time.monotonic() < deadline:
        time.sleep(0.05)
    assert loopback.open_streams == 0  # the server saw the client close the stream
    assert isinstance(slow, Reply) and len(loopback.requests) == 1


@pytest.mark.slow
def test_the_embedded_model_answers_offline(cli: Run) -> None:
    ran = cli(
        "generate", "How tall is the Eiffel Tower?", "--sources", str(SOURCES_JSON),
        "--max-tokens", "48", "--format", "json", timeout=600,
    )  # fmt: skip
    assert ran.code == 0, ran.stderr
    result = GenerationResult.from_dict(ran.json())
    assert result.text
    assert all(1 <= c.source_id <= 3 for c in result.citations)
    assert "preparing the embedded backend" in ran.stderr


def test_a_stream_cut_midway_keeps_what_arrived_and_exits_4(
    cli: Run, loopback: LoopbackServer
) -> None:
    loopback.reset(lambda _: wire.stream(ANSWER, size=4, cut_after=8))
    ran = cli(*ASK, "--stream", env=openai_env(loopback))
    assert ran.code == 4, ran.stderr
    assert ran.stdout and TEXT.startswith(ran.stdout.strip())  # the text that arrived
    assert "stream" in one_error_line(ran).lower()


def test_a_closed_pipe_is_not_an_error(tmp_path: Path) -> None:
    done = subprocess.run(
        f"set -o pipefail; '{SCRIPT}' styles | head -n 1",  # the script's status, not head's
        shell=True,
        executable="/bin/bash",
        capture_output=True,
        text=True,
        env=command_env(tmp_path),
        check=False,
    )
    assert done.returncode == 0 and len(done.stdout.splitlines()) == 1
    assert done.stderr == ""


def test_batch_answers_every_line_in_order(
    cli: Run, served: dict[str, str], loopback: LoopbackServer, tmp_path: Path
) -> None:
    requests = tmp_path / "questions.jsonl"
    lines = [
        {"question": "How tall is it?"},
        {"question": "Who built it?", "policy": "required", "max_tokens": 50},
        {"question": "Nothing to cite", "sources": [str(tmp_path / "missing.txt")]},
        {"question": "Again?", "sources": [str(SOURCES_JSON)]},
    ]
    requests.write_text("\n".join(json.dumps(line) for line in lines) + "\n\n", encoding="utf-8")
    ran = cli("generate", "--batch", str(requests), "--sources", str(SOURCES_JSON), *OPENAI,
              env=served)  # fmt: skip
    assert ran.code == 3, ran.stderr  # a line's missing file is bad input, found up front
    assert "missing.txt" in one_error_line(ran)
    lines.pop(2)
    requests.write_text("\n".join(json.dumps(line) for line in lines), encoding="utf-8")
    ran = cli("generate", "--batch", str(requests), "--sources", str(SOURCES_JSON), *OPENAI,
              "--concurrency", "2", env=served)  # fmt: skip
    assert ran.code == 0, ran.stderr
    out = [json.loads(line) for line in ran.stdout.splitlines()]
    assert [line["index"] for line in out] == [0, 1, 2]
    for line in out:
        result = GenerationResult.from_dict({k: v for k, v in line.items() if k != "index"})
        assert result.text == TEXT
    asked = sorted(
        r.body["messages"][-1]["content"].rsplit("Question: ", 1)[1] for r in loopback.requests
    )
    assert asked == ["Again?", "How tall is it?", "Who built it?"]


def test_batch_failures_are_lines_and_exit_1(
    cli: Run, served: dict[str, str], loopback: LoopbackServer, tmp_path: Path
) -> None:
    loopback.reset(
        lambda received: (
            wire.error(400, "bad request")
            if "Broken" in json.dumps(received.body)
            else wire.answer(ANSWER)(received)
        )
    )
    requests = tmp_path / "questions.jsonl"
    requests.write_text('{"question": "Fine?"}\n{"question": "Broken?"}\n', encoding="utf-8")
    ran = cli("generate", "--batch", str(requests), "--sources", str(SOURCES_JSON), *OPENAI,
              env=served)  # fmt: skip
    assert ran.code == 1, ran.stderr
    first, second = (json.loads(line) for line in ran.stdout.splitlines())
    assert first["index"] == 0 and first["text"] == TEXT
    assert second["index"] == 1 and second["type"] == "BackendError" and "400" in second["error"]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["generate", "--sources", str(SOURCES_JSON)], "QUESTION"),
        (["generate", "Q?", "--batch", "x.jsonl", "--sources", str(SOURCES_JSON)], "not both"),
        (["generate", "--batch", "x.jsonl", "--stream"], "--batch prints"),
    ],
)
def test_batch_usage(cli: Run, args: list[str], words: str) -> None:
    ran = cli(*args, *OPENAI)
    assert ran.code == 2, ran.stderr
    assert words in one_error_line(ran)


def test_batch_bad_lines_name_the_line(cli: Run, tmp_path: Path) -> None:
    requests = tmp_path / "questions.jsonl"
    requests.write_text('{"question": "ok"}\n{"question": "x", "seed": 3}\n', encoding="utf-8")
    ran = cli("generate", "--batch", str(requests), *OPENAI)
    assert ran.code == 3 and "questions.jsonl:2" in one_error_line(ran)
    assert "seed" in one_error_line(ran)
