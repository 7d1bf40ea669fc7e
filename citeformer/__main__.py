"""``python -m citeformer``: the ``citeformer`` command."""

from citeformer.cli import run

run()
