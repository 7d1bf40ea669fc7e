"""OpenAI chat completions and the OpenAI-compatible hosts (extra ``openai``).

Importing this package does not import the openai SDK; constructing a backend does.
"""

from citeformer.backends.openai.backend import OpenAIBackend
from citeformer.backends.openai.hosts import FireworksBackend, OpenRouterBackend, TogetherBackend

__all__ = ["FireworksBackend", "OpenAIBackend", "OpenRouterBackend", "TogetherBackend"]
