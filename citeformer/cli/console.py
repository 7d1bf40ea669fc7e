"""Where output goes: results on stdout, progress and errors on stderr.

Colour only on a terminal and never when ``NO_COLOR`` is set (rich honours it);
stdout carries plain machine output, never escape codes.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from typing import Any


def out(text: str, *, end: str = "\n") -> None:
    """Write to stdout and flush (streamed text appears as it arrives)."""
    sys.stdout.write(text + end)
    sys.stdout.flush()


def err_console() -> Any:
    """A rich console on stderr (plain when stderr is not a terminal or NO_COLOR is set)."""
    from rich.console import Console

    return Console(stderr=True, no_color="NO_COLOR" in os.environ or None, highlight=False)


def say(message: str) -> None:
    """A progress line on stderr."""
    if sys.stderr.isatty():
        err_console().print(f"[dim]{message}[/dim]")
    else:
        print(message, file=sys.stderr, flush=True)


def error(message: str) -> None:
    """The one-line error on stderr."""
    if sys.stderr.isatty() and "NO_COLOR" not in os.environ:
        from rich.markup import escape

        err_console().print(f"[bold red]{escape(message)}[/bold red]")
    else:
        print(message, file=sys.stderr, flush=True)


@contextlib.contextmanager
def spinner(message: str) -> Iterator[None]:
    """A spinner on stderr while something slow runs (a line instead off a terminal)."""
    if not sys.stderr.isatty():
        print(message, file=sys.stderr, flush=True)
        yield
        return
    with err_console().status(message):
        yield


@contextlib.contextmanager
def progress(what: str, total: int) -> Iterator[Callable[[int], None]]:
    """A progress bar on stderr for ``total`` items; yields ``advance(n)``.

    Off a terminal it prints one line at the start and one at the end.
    """
    if total <= 1:
        yield lambda _: None
        return
    if not sys.stderr.isatty():
        print(f"citeformer: {what} ({total}) ...", file=sys.stderr, flush=True)
        count = [0]

        def tally(n: int) -> None:
            count[0] += n

        yield tally
        print(f"citeformer: {what}: {count[0]} of {total} done", file=sys.stderr, flush=True)
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=err_console(),
        transient=True,
    )
    with bar:
        task = bar.add_task(what, total=total)
        yield lambda n: bar.advance(task, n)
