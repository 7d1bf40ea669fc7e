"""Draft tokens for speculative greedy decoding, looked up in the prompt itself.

A cited answer copies names, dates and phrases from its sources, and the sources are
in the prompt. So the draft for the next tokens is what followed the latest earlier
occurrence of the last few tokens (prompt-lookup decoding): no second model, and a
lookup per token in a dict of n-grams. How long a draft is adapts to how much of
the last one was taken, because a rejected token costs a verification row
(~7 ms on SmolLM2 here, against ~26 ms for a step; see ``benchmarks/hf_speed.py``).
"""

from __future__ import annotations

from collections.abc import Iterable

DEFAULT_DRAFT_TOKENS = 4


class PromptLookup:
    """The n-gram index of one call's tokens (prompt, then the answer so far).

    Args:
        tokens: The prompt's token ids.
        max_tokens: The longest draft.
        ngram: The longest and shortest suffix looked up, longest first.
    """

    def __init__(
        self, tokens: Iterable[int], *, max_tokens: int = DEFAULT_DRAFT_TOKENS,
        ngram: tuple[int, int] = (3, 2),
    ) -> None:  # fmt: skip
        self._tokens: list[int] = []
        self._ends: dict[tuple[int, ...], int] = {}  # n-gram -> index after its latest end
        self._earlier: list[int | None] = []  # per suffix length: its previous occurrence
        self._longest, self._shortest = ngram
        self._max = max_tokens
        self._length = min(2, max_tokens)
        for token in tokens:
            self.append(token)

    def append(self, token: int) -> None:
        """Add the next token (the prompt's, or one the model picked)."""
        tokens = self._tokens
        tokens.append(token)
        end = len(tokens)
        earlier: list[int | None] = []
        for n in range(self._longest, self._shortest - 1, -1):
            if end < n:
                earlier.append(None)
                continue
            key = tuple(tokens[end - n :])
            earlier.append(self._ends.get(key))
            self._ends[key] = end
        self._earlier = earlier

    def propose(self, limit: int) -> list[int]:
        """Up to ``min(limit, current length)`` tokens that followed the suffix before."""
        count = min(limit, self._length)
        if count <= 0:
            return []
        for end in self._earlier:
            if end is not None:
                return self._tokens[end : end + count]
        return []

    def taken(self, proposed: int, accepted: int) -> None:
        """Adapt the draft length: grow after a fully taken draft, shrink after a miss."""
        if not proposed:
            return
        grown = min(self._max, self._length + 1)
        self._length = grown if accepted == proposed else max(1, accepted)
