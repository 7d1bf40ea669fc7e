"""``python -m citeformer``: the ``citeformer`` command."""

from citeformer.cli import run

if __name__ == "__main__":
    run()
