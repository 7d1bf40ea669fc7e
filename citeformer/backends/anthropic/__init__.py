"""Anthropic's Messages API with the Citations API (extra ``anthropic``).

Importing this package does not import the anthropic SDK; constructing a backend does.
"""

from citeformer.backends.anthropic.backend import AnthropicBackend

__all__ = ["AnthropicBackend"]
