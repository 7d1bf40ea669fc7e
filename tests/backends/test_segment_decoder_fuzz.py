"""Hostile JSON segment documents: streamed in any chunks, they decode as whole.

The documents are written as raw JSON text (not ``json.dumps``) so that they can
hold what a server that ignores the schema sends: duplicate keys at both levels,
repeated ``text`` keys, keys spelled with escapes, unknown keys with nested values,
citation ids of every JSON type, escapes (surrogate pairs, ``\\u005b`` for ``[``),
marker-like text in every style (``[٩]``, ``［1］``...), wrong shapes and broken
JSON. The oracle is independent of the decoder: jiter says whether the text is
JSON, and ``json.loads`` with a first-key-wins hook gives the segments that
:func:`segments_to_text` must render.
"""

from __future__ import annotations

import json
import random
from typing import Any

import jiter
from hypothesis import example, given, settings
from hypothesis import strategies as st

from citeformer.backends._api.json_scan import Action, JsonScanner, JsonSyntaxError
from citeformer.backends._api.json_segments import SegmentDecoder, decode_segments
from citeformer.core import InvalidMarker, MarkerStyle, Policy
from citeformer.errors import BackendError
from citeformer.grammar.language import CitationLanguage, citation_language
from citeformer.grammar.schema import segments_to_text
from citeformer.markers import validate

FUZZ = settings(derandomize=True, database=None, deadline=None, max_examples=400)

PIECES = [
    *"ab 19.,!?;:[](){}^-\"'\\/\n\té。巴",
    *("[1]", "[2, 3]", "[9]", "[0]", "[1-2]", "[٩]", "［1］", "[１]", "(2)", "（2）"),
    *("{3}", "｛1｝", "^1", "^٣", "＾2", "^12", "e.g. ", "3.5", "😀", "\u2028", "\x00", "\x1f"),
]
IDS = [
    *("1", "2", "3", "1", "2", "0", "4", "-1", "1.0", "2.5", "true", "false", "null"),
    *('"2"', '"x"', '"02"', '"\\u0032"', "[2]", "{}", '{"a": [1]}', "1e0", "1E2", "-0"),
    *("NaN", "-Infinity", "123456789012345678901234567890", '"123456789012345678901234567890"'),
]
SCALARS = ["0", "-1.5e3", "true", "false", "null", '""', '"\\ud83d\\ude00"', '"[1]"']
WRONG_STRINGS = ["5", "null", "[]", '{"text": "x"}', "true"]
WRONG_ARRAYS = ["5", '"1"', "{}", "null"]
WRONG_OBJECTS = ["1", '"text"', "[]", "null"]
WRONG_DOCUMENTS = ["[]", '"segments"', "5", "null", '{"answer": "Paris [1]."}', "{}"]


class Writer:
    """Raw JSON text with random escapes and whitespace (seeded: reproducible)."""

    def __init__(self, rnd: random.Random) -> None:
        self.rnd = rnd

    def space(self) -> str:
        return self.rnd.choice(["", "", "", " ", "\n", " \t", "\r\n"])

    def string(self, text: str) -> str:
        out = ['"']
        for ch in text:
            code = ord(ch)
            if ch in '"\\':
                out.append("\\" + ch)
            elif code < 0x20:
                short = {"\n": "\\n", "\t": "\\t", "\r": "\\r", "\b": "\\b", "\f": "\\f"}
                out.append(short.get(ch) or f"\\u{code:04x}")
            elif self.rnd.random() < 0.25:
                out.append(self.escape(ch))
            else:
                out.append(ch)
        return "".join(out) + '"'

    def escape(self, ch: str) -> str:
        if ch == "/" and self.rnd.random() < 0.5:
            return "\\/"
        code = ord(ch)
        if code > 0xFFFF:  # a surrogate pair
            code -= 0x10000
            pair = (0xD800 + (code >> 10), 0xDC00 + (code & 0x3FF))
            return "".join(self.hex(unit) for unit in pair)
        return self.hex(code)

    def hex(self, unit: int) -> str:
        digits = f"{unit:04x}"
        return "\\u" + (digits.upper() if self.rnd.random() < 0.5 else digits)

    def obj(self, entries: list[tuple[str, str]]) -> str:
        s = self.space
        body = f",{s()}".join(f"{self.string(k)}{s()}:{s()}{v}" for k, v in entries)
        return "{" + s() + body + s() + "}"

    def array(self, items: list[str]) -> str:
        s = self.space
        return "[" + s() + f"{s()},{s()}".join(items) + s() + "]"

    def nested(self, depth: int = 0) -> str:
        kind = self.rnd.randrange(4 if depth < 2 else 2)
        if kind == 0:
            return self.rnd.choice(SCALARS)
        if kind == 1:
            return self.string(self.text())
        items = [self.nested(depth + 1) for _ in range(self.rnd.randrange(3))]
        if kind == 2:
            return self.array(items)
        keys = ["text", "segments", "citations", "k"]
        return self.obj([(self.rnd.choice(keys), item) for item in items])

    def text(self) -> str:
        return "".join(self.rnd.choice(PIECES) for _ in range(self.rnd.randrange(9)))


def segment(w: Writer, quotes: bool) -> str:
    rnd = w.rnd
    if rnd.random() < 0.03:
        return rnd.choice(WRONG_OBJECTS)
    keys = ["text", *(["quote"] if quotes else []), "citations"]
    if rnd.random() < 0.15:
        rnd.shuffle(keys)  # a server that ignored the key order
    for _ in range(rnd.choice([0, 0, 1, 2, 3])):  # duplicates and unknown keys, anywhere
        keys.insert(rnd.randrange(len(keys) + 1), rnd.choice(["text", "quote", "citations", "x"]))
    entries = []
    for key in keys:
        if key == "citations":
            value = w.array([rnd.choice(IDS) for _ in range(rnd.randrange(4))])
            if rnd.random() < 0.03:
                value = rnd.choice(WRONG_ARRAYS)
        elif key in ("text", "quote"):
            value = w.string(w.text())
            if rnd.random() < 0.03:
                value = rnd.choice(WRONG_STRINGS)
        else:
            value = w.nested()
        entries.append((key, value))
    return w.obj(entries)


def document(rnd: random.Random, quotes: bool) -> str:
    w = Writer(rnd)
    if rnd.random() < 0.04:
        return w.space() + rnd.choice(WRONG_DOCUMENTS) + w.space()
    count = rnd.choice([0, 1, 2, 3, 4, 6])
    segments = w.array([segment(w, quotes) for _ in range(count)])
    if rnd.random() < 0.03:
        segments = rnd.choice(WRONG_ARRAYS)
    entries = [("segments", segments)]
    for _ in range(rnd.choice([0, 0, 1, 2])):  # another "segments" (a forgery), or junk
        other = w.array([segment(w, quotes) for _ in range(2)]) if rnd.random() < 0.5 else None
        entries.insert(rnd.randrange(2), ("segments" if other else "x", other or w.nested()))
    doc = w.space() + w.obj(entries) + w.space()
    if rnd.random() < 0.06:  # broken JSON: a character dropped or added
        at = rnd.randrange(len(doc) + 1)
        doc = doc[:at] + rnd.choice(["", ",", "]", "\\", '"', "x"]) + doc[at + 1 :]
    return doc


def first_wins(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        out.setdefault(key, value)
    return out


def oracle(doc: str) -> str | list[dict[str, Any]]:
    """``"invalid"`` (not JSON), ``"shape"`` (not the schema's shape), or the segments."""
    try:
        jiter.from_json(doc.encode())
    except ValueError:
        return "invalid"
    value = json.loads(doc, object_pairs_hook=first_wins)
    segments = value.get("segments") if isinstance(value, dict) else None
    if not isinstance(segments, list) or not all(isinstance(s, dict) for s in segments):
        return "shape"
    for s in segments:
        if any(k in s and not isinstance(s[k], str) for k in ("text", "quote")):
            return "shape"
        if "citations" in s and not isinstance(s["citations"], list):
            return "shape"
    return segments


Outcome = tuple[str, tuple[InvalidMarker, ...]] | BackendError


def whole(doc: str, language: CitationLanguage, truncated: bool) -> Outcome:
    try:
        return decode_segments(doc, language, "fuzz", truncated=truncated)
    except BackendError as exc:
        return exc


def streamed(
    doc: str, language: CitationLanguage, truncated: bool, sizes: list[int]
) -> tuple[list[str], Outcome]:
    decoder = SegmentDecoder(language, "fuzz")
    chunks: list[str] = []
    at = turn = 0
    try:
        while at < len(doc):
            size = sizes[turn % len(sizes)]
            chunks.append(decoder.feed(doc[at : at + size]))
            at, turn = at + size, turn + 1
        chunks.append(decoder.finish(truncated=truncated))
    except BackendError as exc:
        return chunks, exc
    return chunks, ("".join(chunks), decoder.dropped)


def check_parity(
    doc: str, language: CitationLanguage, truncated: bool, sizes: list[int]
) -> Outcome:
    expected = whole(doc, language, truncated)
    chunks, got = streamed(doc, language, truncated, sizes)
    if isinstance(expected, BackendError):
        assert isinstance(got, BackendError), (doc, got)
        assert str(got) == str(expected)
        assert not expected.retryable
    else:
        assert got == expected
    style = language.marker_style
    for chunk in chunks:  # every release is answer text: no partial or invalid marker
        assert validate(chunk, language.n, style).invalid == (), (doc, chunk)
    return expected


SIZES = st.lists(st.integers(min_value=1, max_value=9), min_size=1, max_size=12)
STYLES = st.sampled_from(list(MarkerStyle))


@FUZZ
@given(st.randoms(use_true_random=False), st.booleans(), STYLES, st.sampled_from([1, 3]), SIZES)
def test_hostile_documents_stream_exactly_as_whole(
    rnd: random.Random, quotes: bool, style: MarkerStyle, n: int, sizes: list[int]
) -> None:
    language = citation_language(n, Policy.QUOTES_ONLY if quotes else Policy.AUTO, style)
    doc = document(rnd, quotes)
    result = check_parity(doc, language, False, sizes)
    truth = oracle(doc)
    if isinstance(truth, str):
        assert isinstance(result, BackendError), (doc, truth)
        if truth == "shape":
            assert "did not follow the requested JSON schema" in str(result)
        return
    assert not isinstance(result, BackendError), (doc, result)
    text, dropped = result
    assert (text, dropped) == segments_to_text(truth, language)
    checked = validate(text, n, style)
    assert checked.invalid == () and checked.text == text
    # Prose never becomes a marker: the markers' ids are exactly the cited ids in range.
    cited = {_id(i) for s in truth for i in s.get("citations", []) if _in_range(i, n)}
    assert {i for m in checked.markers for i in m.ids} == cited


@FUZZ
@given(st.randoms(use_true_random=False), st.booleans(), STYLES, SIZES, st.floats(0, 1))
def test_truncated_documents_stream_exactly_as_whole(
    rnd: random.Random, quotes: bool, style: MarkerStyle, sizes: list[int], cut: float
) -> None:
    language = citation_language(3, Policy.QUOTES_ONLY if quotes else Policy.AUTO, style)
    doc = document(rnd, quotes)
    check_parity(doc[: int(len(doc) * cut)], language, True, sizes)


def _id(item: object) -> object:
    """A digit string as the id it stands for (Gemini's string enums)."""
    if isinstance(item, str) and item.isascii() and item.isdigit() and len(item) < 18:
        return int(item)
    return item


def _in_range(item: object, n: int) -> bool:
    item = _id(item)
    return isinstance(item, int) and not isinstance(item, bool) and 1 <= item <= n


# -- the scanner alone: it accepts exactly what jiter accepts ------------------------------


class Skipper:
    """A scan handler that enters every container and captures every scalar."""

    def __init__(self) -> None:
        self.events: list[tuple[str, object]] = []

    def value(self, first: str, offset: int) -> Action:
        if first in "{[":
            return Action.ENTER
        return Action.STREAM if first == '"' else Action.CAPTURE

    def key(self, name: str) -> None:
        self.events.append(("key", name))

    def piece(self, text: str) -> None:
        self.events.append(("piece", text))

    def end(self, value: object, offset: int) -> None:
        self.events.append(("end", repr(value)))


JSONISH = st.text(alphabet=list('{}[]:," \\/u0123456789abdeflnrstuDEINaU.+-\n'), max_size=30)


def scan(text: str, sizes: list[int]) -> tuple[list[tuple[str, object]], str | None]:
    handler = Skipper()
    scanner = JsonScanner(handler)
    at = turn = 0
    try:
        while at < len(text):
            scanner.feed(text[at : at + sizes[turn % len(sizes)]])
            at, turn = at + sizes[turn % len(sizes)], turn + 1
        scanner.close()
    except JsonSyntaxError as exc:
        return _merged(handler.events), str(exc)
    return _merged(handler.events), None


def _merged(events: list[tuple[str, object]]) -> list[tuple[str, object]]:
    """Events with consecutive string pieces joined (chunking splits them differently)."""
    out: list[tuple[str, object]] = []
    for kind, value in events:
        if kind == "piece" and out and out[-1][0] == "piece":
            out[-1] = ("piece", str(out[-1][1]) + str(value))
        elif kind != "piece" or value:
            out.append((kind, value))
    return out


@FUZZ
@given(
    st.one_of(JSONISH, st.randoms(use_true_random=False).map(lambda r: document(r, True))), SIZES
)
@example('{"a": "\\ud83d\\ude00", "b": [1.5e3, -0, NaN]}', [1])
@example('"\\ud83dx"', [3])
@example("[1,]", [1])
def test_the_scanner_accepts_what_jiter_accepts_in_any_chunks(text: str, sizes: list[int]) -> None:
    events, error = scan(text, sizes)
    whole_events, whole_error = scan(text, [len(text) or 1])
    assert error == whole_error
    if error is None:  # (a stream reports what came before an error; whole, less of it)
        assert events == whole_events
    try:
        jiter.from_json(text.encode())
    except ValueError:
        assert error is not None, text
    else:
        assert error is None, (text, error)


def test_the_c_parser_path_is_taken_for_plain_documents_and_decodes_as_the_scan() -> None:
    """Whole documents the C JSON parser takes give the scan's text, ids and dropped ids."""
    from citeformer.backends._api.json_segments import whole_segments

    rnd = random.Random(19)
    taken = 0
    for _ in range(600):
        quotes = rnd.random() < 0.5
        language = citation_language(3, Policy.QUOTES_ONLY if quotes else Policy.AUTO)
        doc = document(rnd, quotes)
        if whole_segments(doc) is None:
            continue
        taken += 1
        scanned = SegmentDecoder(language, "fuzz")
        expected = scanned.feed(doc) + scanned.finish()
        fast = SegmentDecoder(language, "fuzz")
        assert fast.feed(doc, whole=True) == ""  # released by finish
        assert (fast.finish(), fast.dropped) == (expected, scanned.dropped), doc
    assert taken > 80  # 116 of these 600 take the C parser; the hostile rest, the scan
    plain = '{"segments": [{"text": "Paris is big.", "citations": [1, 7]}]}'
    assert whole_segments(plain) == [{"text": "Paris is big.", "citations": [1, 7]}]
    for odd in ('{"segments": [{"text": "\\ud800"}]}', '{"segments": [{"citations": [1.0]}]}',
                '{"segments": []} x', '{"segments": {}}', '[]'):  # fmt: skip
        assert whole_segments(odd) is None, odd
