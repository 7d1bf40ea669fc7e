"""The cyclopts application: the commands of :mod:`citeformer.cli.commands`, registered.

Help text comes from the commands' docstrings. List options take several values
after one flag (``--sources a.bib b.json``).
"""

from __future__ import annotations

from cyclopts import App, Parameter

from citeformer import __version__
from citeformer.cli import commands
from citeformer.cli.exits import EXIT_CODES_HELP

app = App(
    name="citeformer",
    version=__version__,
    help=f"{commands.SUMMARY}\n\nResults go to stdout, progress and errors to stderr. "
    + EXIT_CODES_HELP,
    help_format="markdown",
    default_parameter=Parameter(consume_multiple=True, negative=()),
    # Ctrl-C reaches citeformer.cli.main, which says so and exits 130.
    suppress_keyboard_interrupt=False,
)
for command in (commands.generate, commands.verify, commands.render, commands.fetch,
                commands.styles):  # fmt: skip
    app.command(command)
cache_app = App(name="cache", help=commands.CACHE_SUMMARY, help_format="markdown")
cache_app.command(commands.cache_info, name="info")
cache_app.command(commands.cache_clear, name="clear")
app.command(cache_app)
