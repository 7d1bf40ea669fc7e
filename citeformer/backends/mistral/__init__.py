"""Mistral chat completions through mistralai (extra ``mistral``).

Importing this package does not import mistralai; constructing a backend does.
"""

from citeformer.backends.mistral.backend import MistralBackend

__all__ = ["MistralBackend"]
