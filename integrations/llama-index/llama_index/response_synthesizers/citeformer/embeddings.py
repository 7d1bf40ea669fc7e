"""HashingEmbedding: a deterministic, offline embedding for examples and tests.

Feature hashing over lower-cased word stems: texts that share content words are close,
the same text always gives the same vector, and nothing is downloaded. It is a lexical
retriever, not a semantic one; use it where a real embedding model is not wanted
(tests, docs, CI), like citeformer's ``MockBackend`` stands in for a model.
"""

from __future__ import annotations

import hashlib
import math
import re
from typing import Any

from llama_index.core.base.embeddings.base import BaseEmbedding
from pydantic import Field

_WORD = re.compile(r"[^\W_]+")
_STOP_WORDS = frozenset(
    {
        "a", "an", "and", "are", "as", "at", "be", "by", "did", "do", "does", "for", "from",
        "has", "have", "how", "in", "is", "it", "its", "of", "on", "or", "that", "the",
        "this", "to", "was", "were", "what", "when", "where", "which", "who", "why", "with",
    }
)  # fmt: skip


def _stem(word: str) -> str:
    for suffix in ("ing", "ed", "es", "s"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


class HashingEmbedding(BaseEmbedding):
    """Bag of hashed word stems, L2-normalised; deterministic across processes.

    Args:
        embed_dim: Vector size (more dimensions, fewer collisions).
        **kwargs: Other ``BaseEmbedding`` fields (``embed_batch_size``...).
    """

    embed_dim: int = Field(default=512, gt=1, description="Vector size.")

    def __init__(self, embed_dim: int = 512, **kwargs: Any) -> None:
        # pydantic's dataclass_transform gives mypy BaseEmbedding's fields for
        # super().__init__; embed_dim is this model's own field, which pydantic validates.
        super().__init__(embed_dim=embed_dim, model_name="hashing", **kwargs)  # type: ignore[call-arg]

    @classmethod
    def class_name(cls) -> str:
        """Class name."""
        return "HashingEmbedding"

    def embed(self, text: str) -> list[float]:
        """The vector of ``text`` (never all zeros, so cosine similarity is defined)."""
        vector = [0.0] * self.embed_dim
        vector[0] = 0.01  # a small constant component keeps empty texts comparable
        for word in _WORD.findall(text.lower()):
            if word in _STOP_WORDS:
                continue
            digest = hashlib.blake2b(_stem(word).encode(), digest_size=8).digest()
            vector[1 + int.from_bytes(digest, "big") % (self.embed_dim - 1)] += 1.0
        norm = math.sqrt(sum(x * x for x in vector))
        return [x / norm for x in vector]

    def _get_query_embedding(self, query: str) -> list[float]:
        return self.embed(query)

    def _get_text_embedding(self, text: str) -> list[float]:
        return self.embed(text)

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self.embed(query)

    async def _aget_text_embedding(self, text: str) -> list[float]:
        return self.embed(text)
