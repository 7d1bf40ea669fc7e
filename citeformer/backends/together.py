"""The 0.3 module path of :class:`~citeformer.backends.openai.TogetherBackend`.

The same class (an OpenAI-compatible host of :mod:`citeformer.backends.openai`),
re-exported so code written against the 0.3 layout imports it unchanged.
"""

from __future__ import annotations

from citeformer.backends.openai.hosts import TogetherBackend

__all__ = ["TogetherBackend"]
