"""CSL conformance: the suite's bibliography-mode fixtures through our renderer and raw citeproc-py.

The fixtures are read from ``../shared/csl-test-suite/humans/`` (top level and the
``experiments/`` and ``off-spec/`` subfolders; never copied into the repository). Each
bibliography-mode fixture is rendered three ways and compared with its ``RESULT``:

- **raw citeproc-py**: plain citeproc-py with its HTML formatter, driven the way
  citeproc-py's own suite runner drives it (``tests/citeproc-test.py``): an input item
  without ``id`` gets its index, one without ``type`` gets ``book``; the
  ``CITATION-ITEMS`` / ``CITATIONS`` clusters are registered when present, else all
  items as one citation; ``sort()`` when the style has a bibliography; each entry
  wrapped as ``  <div class="csl-entry">…</div>`` between the ``csl-bib-body`` lines;
- **ours**: ``citeformer.render.render_bibliography`` on the fixture's CSL (written to a
  temporary ``.csl``), one :class:`~citeformer.Source` per input item, cited in
  first-citation order over the same clusters, ``numbering="style"``. An entry is
  ``label + " " + formatted("html")`` when the style is numeric and a label was split off
  (the fixtures print the number inside the entry: ``[1] Aaaa``), else the body alone;
- **pandoc** (optional): the same call with ``renderer="pandoc"``, only when
  ``citeformer.render.pandoc`` imports and ``pypandoc`` is installed.

Comparison follows the upstream runner: ``&amp;`` becomes ``&#38;`` in the output, and
both sides are compared line by line (each line trimmed, blank lines at either end
dropped). Every fixture is wrapped: an exception or a timeout counts as a failure
(``error``). Fixtures in ``bibliography-header`` mode or with a ``BIBSECTION`` are skipped,
as upstream.

Run ``python benchmarks/csl_conformance.py [--json PATH] [--list-changes]``; ``make
bench`` prints the tables through :func:`run`.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import json
import re
import signal
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._timing import table
from tests.shared_data import csl_suite_dir

Status = Literal["pass", "fail", "error"]
RendererName = Literal["citeproc", "pandoc"]
BIB_OPEN = '<div class="csl-bib-body">'
BIB_CLOSE = "</div>"
ENTRY_OPEN = '  <div class="csl-entry">'
ENTRY_CLOSE = "</div>"
TIMEOUT_S = 20.0
"""Per fixture and renderer; a fixture that runs longer counts as an error."""

_SECTION_RE = re.compile(r"^\s*(>>|<<)=+\s*([A-Z][A-Z-]*)\s*=+\s*(?:>>|<<)?\s*$")


# -- fixtures -------------------------------------------------------------------------


def parse_sections(text: str) -> dict[str, str]:
    """The sections of one fixture file by name (``MODE``, ``CSL``, ``INPUT``, ...).

    Lenient: any run of ``=`` around the name, unbalanced runs, and openers or closers
    without their trailing ``>>`` / ``<<``. Text outside sections is commentary. A
    section left open runs to the end of the file.
    """
    sections: dict[str, str] = {}
    current: str | None = None
    lines: list[str] = []
    for line in text.splitlines():
        match = _SECTION_RE.match(line)
        if match is None:
            if current is not None:
                lines.append(line)
            continue
        kind, name = match.groups()
        if current is None and kind == ">>":
            current, lines = name, []
        elif current is not None and kind == "<<" and name == current:
            sections[current] = "\n".join(lines)
            current = None
        elif current is not None:  # a marker line inside a section is its content
            lines.append(line)
    if current is not None:
        sections[current] = "\n".join(lines)
    return sections


@dataclass(frozen=True)
class Fixture:
    """One fixture file.

    Attributes:
        name: The path below ``humans/`` without ``.txt`` (``sort_Foo``,
            ``off-spec/sort_Foo``).
        path: The file.
        sections: Its sections by name, as written.
    """

    name: str
    path: Path
    sections: dict[str, str]

    @classmethod
    def load(cls, path: Path, root: Path) -> Fixture:
        """Parse ``path`` (a fixture below ``root``)."""
        name = path.relative_to(root).with_suffix("").as_posix()
        return cls(name, path, parse_sections(path.read_text(encoding="utf-8-sig")))

    @property
    def category(self) -> str:
        """The file name's prefix before ``_`` (``sort``, ``name``, ``bugreports``)."""
        return self.path.name.split("_", 1)[0]

    @property
    def mode(self) -> str:
        return self.sections.get("MODE", "").strip()

    @property
    def csl(self) -> str:
        return self.sections.get("CSL", "").strip()

    @property
    def skipped(self) -> bool:
        """Skipped as the upstream runner skips it (``bibliography-header``, ``BIBSECTION``)."""
        return self.mode == "bibliography-header" or bool(self.sections.get("BIBSECTION"))

    def items(self) -> list[dict[str, Any]]:
        """The ``INPUT`` items (a fresh copy), missing ``id`` = index, missing ``type`` = book."""
        raw = self.sections.get("INPUT")
        items: list[dict[str, Any]] = json.loads(raw) if raw and raw.strip() else []
        for index, item in enumerate(items):
            item.setdefault("id", index)
            item.setdefault("type", "book")
        return items

    def clusters(self, items: Sequence[dict[str, Any]]) -> list[list[dict[str, Any]]]:
        """The citations as lists of cite dicts (``{"id": ..., "locator": ...}``).

        ``CITATION-ITEMS`` when present, else the ``citationItems`` of each
        ``CITATIONS`` entry, else all input items as one citation.
        """
        if (raw := self.sections.get("CITATION-ITEMS")) and raw.strip():
            return [list(cluster) for cluster in json.loads(raw)]
        if (raw := self.sections.get("CITATIONS")) and raw.strip():
            return [list(entry[0]["citationItems"]) for entry in json.loads(raw)]
        return [[{"id": item["id"]} for item in items]]

    def expected(self) -> list[str]:
        return normalise(self.sections.get("RESULT", "").splitlines())


def normalise(lines: Sequence[str]) -> list[str]:
    """Lines as compared: ``&amp;`` as ``&#38;``, each trimmed, blank ends dropped."""
    out = [line.replace("&amp;", "&#38;").strip() for line in "\n".join(lines).split("\n")]
    while out and not out[0]:
        out.pop(0)
    while out and not out[-1]:
        out.pop()
    return out


def suite_root() -> Path:
    """``../shared/csl-test-suite/humans`` (may not exist)."""
    return csl_suite_dir() / "humans"


def bibliography_fixtures(root: Path | None = None) -> list[Fixture]:
    """Every bibliography-mode fixture below ``root``, subfolders included, sorted by name."""
    root = root or suite_root()
    found = (Fixture.load(path, root) for path in sorted(root.rglob("*.txt")))
    return [f for f in found if f.mode in ("bibliography", "bibliography-nosort")]


# -- the renderers --------------------------------------------------------------------


def _wrap(entries: Sequence[str]) -> list[str]:
    return [BIB_OPEN, *(ENTRY_OPEN + entry + ENTRY_CLOSE for entry in entries), BIB_CLOSE]


def raw_citeproc(fixture: Fixture) -> list[str]:
    """The fixture through plain citeproc-py and its HTML formatter (output lines)."""
    from citeproc import (
        Citation,
        CitationItem,
        CitationStylesBibliography,
        CitationStylesStyle,
        Locator,
        formatter,
    )
    from citeproc.source.json import CiteProcJSON

    def cite(data: dict[str, Any]) -> Any:
        options: dict[str, Any] = {}
        for key, value in data.items():
            if key in ("id", "label"):
                continue
            if key == "locator":
                options["locator"] = Locator(data.get("label", "page"), value)
            else:
                options[key.replace("-", "_")] = value
        return CitationItem(str(data["id"]), **options)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        style = CitationStylesStyle(io.BytesIO(fixture.csl.encode("utf-8")), validate=False)
        items = fixture.items()
        bibliography = CitationStylesBibliography(style, CiteProcJSON(items), formatter.html)
        for cluster in fixture.clusters(items):
            bibliography.register(Citation([cite(data) for data in cluster]))
        if style.has_bibliography():
            bibliography.sort()
        entries = [str(entry) for entry in bibliography.bibliography()]
    return _wrap(entries)


def cited_order(fixture: Fixture, items: Sequence[dict[str, Any]]) -> list[int]:
    """Source ids (1-based input positions) in first-citation order over the clusters.

    Ids match as citeproc-py matches them (as lowercased strings); cites of unknown
    ids are ignored, as citeproc-py's ``register`` ignores them.
    """
    position: dict[str, int] = {}
    for index, item in enumerate(items, start=1):
        position.setdefault(str(item["id"]).lower(), index)
    order: dict[int, None] = {}
    for cluster in fixture.clusters(items):
        for data in cluster:
            found = position.get(str(data.get("id")).lower())
            if found is not None:
                order[found] = None
    return list(order)


class _Ours:
    """Renders fixtures with ``render_bibliography``; each style gets its own ``.csl`` file."""

    def __init__(self, folder: Path, renderer: RendererName = "citeproc") -> None:
        self.folder = folder
        self.renderer = renderer

    def __call__(self, fixture: Fixture) -> list[str]:
        from citeformer import Source
        from citeformer.render import render_bibliography

        # One file per fixture and renderer: styles and bibliographies are cached by path.
        path = self.folder / f"{self.renderer}-{fixture.name.replace('/', '--')}.csl"
        path.write_text(fixture.csl, encoding="utf-8")
        items = fixture.items()
        sources = [Source(content="x", metadata=item) for item in items]
        cited = cited_order(fixture, items)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            bibliography = render_bibliography(
                sources, cited, style=path, numbering="style", renderer=self.renderer
            )
        entries = []
        for entry in bibliography.entries:
            body = entry.formatted("html")
            entries.append(f"{entry.label} {body}" if entry.label else body)
        return _wrap(entries)


@contextlib.contextmanager
def _ours_renderer(renderer: RendererName = "citeproc") -> Iterator[Callable[[Fixture], list[str]]]:
    with tempfile.TemporaryDirectory(prefix="csl-conformance-") as folder:
        yield _Ours(Path(folder), renderer)


def ours(fixture: Fixture) -> list[str]:
    """The fixture through citeformer's ``render_bibliography`` (output lines)."""
    with _ours_renderer() as render:
        return render(fixture)


def pandoc_available() -> bool:
    """Whether ``renderer="pandoc"`` can run here (the module imports, pypandoc is installed)."""
    if importlib.util.find_spec("pypandoc") is None:
        return False
    try:
        import citeformer.render.pandoc  # noqa: F401
    except Exception:
        return False
    return True


# -- running --------------------------------------------------------------------------


class FixtureTimeout(Exception):
    """A renderer ran past :data:`TIMEOUT_S` on one fixture."""


@contextlib.contextmanager
def _time_limit(seconds: float) -> Iterator[None]:
    """Raise :class:`FixtureTimeout` after ``seconds`` (main thread only; else no limit).

    An alarm already set (pytest-timeout's) is kept: it is restored afterwards with the
    time it had left, so it still fires.
    """
    if threading.current_thread() is not threading.main_thread() or not hasattr(
        signal, "setitimer"
    ):
        yield
        return

    def expire(signum: int, frame: object) -> None:
        raise FixtureTimeout(f"ran past {seconds:g} s")

    started = time.monotonic()
    previous = signal.signal(signal.SIGALRM, expire)
    pending, interval = signal.getitimer(signal.ITIMER_REAL)
    signal.setitimer(signal.ITIMER_REAL, min(seconds, pending) if pending else seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, signal.SIG_DFL if previous is None else previous)
        if pending:
            left = max(pending - (time.monotonic() - started), 0.001)
            signal.setitimer(signal.ITIMER_REAL, left, interval)


@dataclass
class Outcome:
    """How one renderer did on one fixture."""

    status: Status
    lines: list[str] = field(default_factory=list)
    error: str = ""
    seconds: float = 0.0


def check(
    fixture: Fixture, render: Callable[[Fixture], list[str]], timeout: float = TIMEOUT_S
) -> Outcome:
    """Run ``render`` on ``fixture`` and compare with its result; never raises."""
    started = time.perf_counter()
    try:
        with _time_limit(timeout):
            lines = normalise(render(fixture))
    except Exception as error:  # a crash or timeout is this fixture's failure, not the run's
        message = f"{type(error).__name__}: {error}".strip()
        return Outcome("error", [], message, time.perf_counter() - started)
    status: Status = "pass" if lines == fixture.expected() else "fail"
    return Outcome(status, lines, "", time.perf_counter() - started)


@dataclass
class FixtureResult:
    name: str
    category: str
    expected: list[str]
    outcomes: dict[str, Outcome]

    def passed(self, renderer: str) -> bool:
        found = self.outcomes.get(renderer)
        return found is not None and found.status == "pass"


@dataclass
class Report:
    """The results of one run over the fixtures."""

    renderers: list[str]
    results: list[FixtureResult]
    seconds: float
    skipped: list[str] = field(default_factory=list)

    def passed(self, renderer: str) -> int:
        return sum(result.passed(renderer) for result in self.results)

    def names(self, renderer: str) -> set[str]:
        return {result.name for result in self.results if result.passed(renderer)}

    def changes(self, a: str = "ours", b: str = "raw") -> tuple[list[str], list[str]]:
        """Fixtures passed by ``a`` only, and by ``b`` only."""
        only_a = sorted(self.names(a) - self.names(b))
        only_b = sorted(self.names(b) - self.names(a))
        return only_a, only_b

    def categories(self) -> dict[str, dict[str, int]]:
        """Per category: ``total`` and the pass count of each renderer."""
        counts: dict[str, dict[str, int]] = {}
        for result in self.results:
            row = counts.setdefault(
                result.category, {"total": 0} | dict.fromkeys(self.renderers, 0)
            )
            row["total"] += 1
            for renderer in self.renderers:
                row[renderer] += result.passed(renderer)
        return dict(sorted(counts.items()))

    def to_json(self) -> dict[str, Any]:
        return {
            "fixtures": len(self.results),
            "seconds": round(self.seconds, 2),
            "passed": {renderer: self.passed(renderer) for renderer in self.renderers},
            "categories": self.categories(),
            "skipped": self.skipped,
            "results": [asdict(result) for result in self.results],
        }


def run_suite(
    fixtures: Sequence[Fixture] | None = None,
    *,
    pandoc: bool | None = None,
    timeout: float = TIMEOUT_S,
) -> Report:
    """Every fixture through ``ours`` and ``raw`` (and ``pandoc`` when available)."""
    started = time.perf_counter()
    fixtures = bibliography_fixtures() if fixtures is None else list(fixtures)
    use_pandoc = pandoc_available() if pandoc is None else pandoc
    skipped = [f.name for f in fixtures if f.skipped]
    fixtures = [f for f in fixtures if not f.skipped]
    with contextlib.ExitStack() as stack:
        renderers: dict[str, Callable[[Fixture], list[str]]] = {
            "ours": stack.enter_context(_ours_renderer()),
            "raw": raw_citeproc,
        }
        if use_pandoc:
            renderers["pandoc"] = stack.enter_context(_ours_renderer("pandoc"))
        results = [
            FixtureResult(
                f.name,
                f.category,
                f.expected(),
                {name: check(f, render, timeout) for name, render in renderers.items()},
            )
            for f in fixtures
        ]
    return Report(list(renderers), results, time.perf_counter() - started, skipped)


# -- reporting ------------------------------------------------------------------------

_LABELS = {"ours": "ours", "raw": "raw citeproc-py", "pandoc": "pandoc"}


def tables(report: Report) -> str:
    """The totals and the per-category counts, as Markdown."""
    total = len(report.results)

    def cell(passed: int, of: int) -> str:
        return f"{passed}/{of} ({passed / of:.0%})" if of else "0/0"

    top = [result for result in report.results if "/" not in result.name]
    header = ["fixtures", *(f"passed ({_LABELS[r]})" for r in report.renderers)]
    rows = [
        [f"all: {total}", *(cell(report.passed(r), total) for r in report.renderers)],
        [
            f"top level (upstream runner's set): {len(top)}",
            *(cell(sum(x.passed(r) for x in top), len(top)) for r in report.renderers),
        ],
    ]
    out = table(
        "CSL suite, bibliography mode: ours against raw citeproc-py "
        f"(../shared/csl-test-suite/humans, subfolders included; {report.seconds:.1f} s)",
        header,
        rows,
    )
    rows = [
        [category, str(counts["total"]), *(str(counts[r]) for r in report.renderers)]
        for category, counts in report.categories().items()
    ]
    out += "\n" + table(
        "CSL suite, bibliography mode, per category",
        ["category", "fixtures", *(_LABELS[r] for r in report.renderers)],
        rows,
    )
    return out


def changes_text(report: Report, *, detail: int = 0) -> str:
    """Fixtures where ours and raw citeproc-py differ; ``detail`` regressions shown in full."""
    only_ours, only_raw = report.changes()
    lines = [f"passed by ours only ({len(only_ours)}):", *(f"  {n}" for n in only_ours)]
    lines += [f"passed by raw citeproc-py only ({len(only_raw)}):", *(f"  {n}" for n in only_raw)]
    by_name = {result.name: result for result in report.results}
    for name in only_raw[:detail]:
        result = by_name[name]
        outcome = result.outcomes["ours"]
        lines += ["", f"== {name}", "expected:", *(f"  {x}" for x in result.expected)]
        got = outcome.lines if outcome.status != "error" else [outcome.error]
        lines += ["ours:", *(f"  {x}" for x in got)]
    return "\n".join(lines)


def run() -> str:
    """The tables (``make bench``), or a note when the suite is not there."""
    root = suite_root()
    if not root.is_dir():
        return f"### CSL conformance\n\nskipped: the CSL test suite is not at {root}\n"
    return tables(run_suite())


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--json", metavar="PATH", help="write the results as JSON to PATH")
    parser.add_argument(
        "--list-changes",
        action="store_true",
        help="list fixtures passed by ours or raw citeproc-py but not both",
    )
    parser.add_argument(
        "--detail",
        type=int,
        default=0,
        metavar="N",
        help="with --list-changes: expected and our lines of the first N raw-only passes",
    )
    parser.add_argument("--no-pandoc", action="store_true", help="skip the pandoc renderer")
    parser.add_argument("--only", metavar="SUBSTRING", help="only fixtures whose name holds it")
    args = parser.parse_args(argv)
    root = suite_root()
    if not root.is_dir():
        raise SystemExit(f"the CSL test suite is not at {root} (see ../shared/csl-test-suite)")
    fixtures = bibliography_fixtures(root)
    if args.only:
        fixtures = [f for f in fixtures if args.only in f.name]
    report = run_suite(fixtures, pandoc=False if args.no_pandoc else None)
    print(tables(report))
    if args.list_changes:
        print(changes_text(report, detail=args.detail))
    if args.json:
        Path(args.json).write_text(json.dumps(report.to_json(), indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
