"""Deprecated alias of :mod:`citeformer.grammar.notation` (the grammar notations).

"render" now means bibliographies only; import ``to_ebnf``, ``to_gbnf`` and
``to_lark`` from :mod:`citeformer.grammar.notation`.
"""

import warnings

from citeformer.grammar.notation import to_ebnf, to_gbnf, to_lark

__all__ = ["to_ebnf", "to_gbnf", "to_lark"]

warnings.warn(
    "citeformer.grammar.render is deprecated; import from citeformer.grammar.notation",
    DeprecationWarning,
    stacklevel=2,
)
