"""Gemini through google-genai (extra ``gemini``).

Importing this package does not import google-genai; constructing a backend does.
"""

from citeformer.backends.gemini.backend import GeminiBackend

__all__ = ["GeminiBackend"]
