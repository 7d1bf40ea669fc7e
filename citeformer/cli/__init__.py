"""The ``citeformer`` command (also ``python -m citeformer``).

``citeformer generate | verify | render | fetch | styles | cache``; ``--help`` on
each. Imports stay lazy: ``citeformer --help`` loads cyclopts and the command
definitions only.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Sequence

__all__ = ["main", "run"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (see ``citeformer --help``)."""
    tokens = list(sys.argv[1:] if argv is None else argv)
    if tokens in ([], ["--help"], ["-h"]):
        from citeformer.cli.overview import overview

        print(overview())
        return 0
    if tokens == ["--version"]:
        from citeformer import __version__

        print(__version__)
        return 0
    from cyclopts.exceptions import CycloptsError

    from citeformer.cli.app import app
    from citeformer.cli.console import error
    from citeformer.cli.exits import Exit, exit_code, one_line
    from citeformer.cli.inputs import STDIN

    # A lone "-" (stdin) reads as a flag to the parser: pass it as the path it means.
    tokens = [STDIN if token == "-" else token for token in _bare_verify(tokens)]
    warnings.showwarning = _warning_line
    try:
        status = app(tokens, exit_on_error=False, print_error=False, result_action="return_value")
    except CycloptsError as exc:
        error(f"citeformer: usage: {' '.join(str(exc).split())} (see citeformer --help)")
        return Exit.USAGE
    except KeyboardInterrupt:
        error("citeformer: interrupted")
        return Exit.INTERRUPTED
    except BrokenPipeError:
        _silence_stdout()  # the reader went away (| head): not an error
        return Exit.OK
    except Exception as exc:  # every failure becomes one line and an exit status
        if os.environ.get("CITEFORMER_DEBUG"):
            raise
        error(one_line(exc))
        return exit_code(exc)
    return int(status) if isinstance(status, int) else Exit.OK


def run() -> None:
    """The console-script entry point: :func:`main`, then exit with its status."""
    sys.exit(main())


_SCORER_NAMES = ("default", "lexical", "embedding", "nli:", "judge:")


def _bare_verify(tokens: list[str]) -> list[str]:
    # ``--verify`` alone means the default scorer; ``--verify=SCORER`` names one, and so
    # does ``--verify SCORER`` when the next word is a scorer spec (not the question).
    if tokens[:1] != ["generate"]:
        return tokens
    out: list[str] = []
    for index, token in enumerate(tokens):
        following = tokens[index + 1] if index + 1 < len(tokens) else ""
        named = following.split(":")[0] + (":" if ":" in following else "")
        if token == "--verify" and named not in _SCORER_NAMES:
            token = "--verify=default"
        out.append(token)
    return out


def _warning_line(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: object = None,
    line: str | None = None,
) -> None:
    print(f"citeformer: warning: {' '.join(str(message).split())}", file=sys.stderr, flush=True)


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except OSError:
        pass
