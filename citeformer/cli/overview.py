"""The top-level ``citeformer --help``, from the commands' docstrings, without cyclopts.

The overview is printed on every bare ``citeformer``; cyclopts and rich take
~0.3 s to import on a small machine, more than the whole overview is worth. Each
command's own ``--help`` is cyclopts', from the same docstrings.
"""

from __future__ import annotations

import inspect
import shutil
import textwrap

from citeformer.cli import commands
from citeformer.cli.exits import EXIT_CODES_HELP

COMMANDS = (
    ("generate", commands.generate),
    ("verify", commands.verify),
    ("render", commands.render),
    ("fetch", commands.fetch),
    ("styles", commands.styles),
)


def overview() -> str:
    """The top-level help text."""
    width = min(shutil.get_terminal_size((80, 24)).columns, 100)
    rows = [(name, _summary(function)) for name, function in COMMANDS]
    rows.append(("cache", commands.CACHE_SUMMARY))
    rows += [("--help, -h", "This overview; COMMAND --help for a command's options."),
             ("--version", "The installed version.")]  # fmt: skip
    pad = max(len(name) for name, _ in rows) + 2
    lines = ["Usage: citeformer COMMAND [ARGS]", "", *textwrap.wrap(commands.SUMMARY, width), ""]
    lines.append("Commands and options:")
    for name, summary in rows:
        wrapped = textwrap.wrap(summary, max(width - pad - 2, 20)) or [""]
        lines.append(f"  {name.ljust(pad)}{wrapped[0]}")
        lines += [" " * (pad + 2) + more for more in wrapped[1:]]
    lines.append("")
    tail = "Results go to stdout, progress and errors to stderr. " + EXIT_CODES_HELP
    lines += textwrap.wrap(tail, width)
    return "\n".join(lines)


def _summary(function: object) -> str:
    doc = inspect.getdoc(function) or ""
    return doc.split("\n\n", 1)[0].replace("\n", " ").strip()
