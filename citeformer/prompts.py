"""Source-grounded prompt assembly with a budget.

The sources' *content* goes into the prompt, each under the label the answer
must use to cite it (``[1]``, ``(1)``, ``{1}``, ``^1``), with instructions that
match the policy. Metadata is used for a title line only; the bibliography is
rendered from it later, never by the model.

Budget strategy (``PromptBudget``): the source texts share the budget fairly.
Every source gets an equal share; sources shorter than their share keep their
full text and the unused room is handed to the longer ones (water-filling), so a
budget never starves a short source to feed a long one. Truncated texts are cut
at a word boundary and end with ``" …"``. With a token counter, the character
budget is derived from the counter's measured characters-per-token and then
shrunk until the counted total fits.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Literal, TypedDict

from citeformer.core import Policy, Source
from citeformer.errors import InvalidOptionError, InvalidPromptError
from citeformer.grammar.language import CitationLanguage

TRUNCATION_MARK = " …"
DEFAULT_MAX_CHARS = 24_000


class Message(TypedDict):
    """A chat message in the common ``{"role", "content"}`` form."""

    role: Literal["system", "user", "assistant"]
    content: str


@dataclass(frozen=True, slots=True)
class PromptBudget:
    """How much source text the prompt may hold.

    Attributes:
        max_chars: Characters of source content in total.
        max_tokens: Tokens of source content in total; needs ``count_tokens``.
        count_tokens: The model's token counter (``lambda s: len(tok.encode(s))``).
    """

    max_chars: int | None = DEFAULT_MAX_CHARS
    max_tokens: int | None = None
    count_tokens: Callable[[str], int] | None = None

    def __post_init__(self) -> None:
        for name in ("max_chars", "max_tokens"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise InvalidOptionError(f"PromptBudget.{name} must be a positive int or None")
        if self.max_tokens is not None and self.count_tokens is None:
            raise InvalidOptionError(
                "PromptBudget.max_tokens needs count_tokens (a function str -> int)"
            )


def fit_contents(contents: Sequence[str], budget: PromptBudget) -> list[str]:
    """Truncate ``contents`` so together they fit ``budget`` (see module docs)."""
    limit = budget.max_chars
    if budget.max_tokens is not None and budget.count_tokens is not None:
        count = budget.count_tokens
        total_chars = sum(len(c) for c in contents) or 1
        per_char = max(count("".join(contents)), 1) / total_chars
        token_limit = int(budget.max_tokens / per_char)
        limit = token_limit if limit is None else min(limit, token_limit)
        fitted = _water_fill(contents, limit)
        while sum(count(c) for c in fitted) > budget.max_tokens and limit > len(contents):
            limit = int(limit * 0.9)
            fitted = _water_fill(contents, limit)
        return fitted
    return list(contents) if limit is None else _water_fill(contents, limit)


def _water_fill(contents: Sequence[str], limit: int) -> list[str]:
    if sum(len(c) for c in contents) <= limit:
        return list(contents)
    shares = [0] * len(contents)
    remaining = limit
    open_ids = sorted(range(len(contents)), key=lambda i: len(contents[i]))
    while open_ids:
        share = remaining // len(open_ids)
        i = open_ids[0]
        if len(contents[i]) <= share:
            shares[i] = len(contents[i])
            remaining -= shares[i]
            open_ids.pop(0)
            continue
        for i in open_ids:
            shares[i] = share
        break
    return [_cut(c, s) for c, s in zip(contents, shares, strict=True)]


def _cut(text: str, size: int) -> str:
    if len(text) <= size:
        return text
    room = size - len(TRUNCATION_MARK)
    if room <= 0:
        return ""
    cut = text.rfind(" ", 0, room + 1)
    if cut < room // 2:
        cut = room
    return text[:cut].rstrip() + TRUNCATION_MARK


def _instructions(language: CitationLanguage) -> str:
    style = language.marker_style
    one = style.marker([1])
    n = language.n
    ids = f"{style.marker([1])}" if n == 1 else f"{style.marker([1])} to {style.marker([n])}"
    lines = [
        "Answer the question using only the numbered sources below.",
        f"Cite a source with its marker, for example {one}. Only the markers {ids} exist;"
        " never cite any other number.",
    ]
    if language.group.max_size > 1:
        lines.append(
            f"To cite several sources at once, write one marker with increasing ids, "
            f"for example {style.marker([1, 2])}."
        )
    if language.policy is Policy.REQUIRED:
        lines.append(
            "Every sentence must contain at least one citation marker, placed before the"
            f" sentence's final punctuation, like: Paris is the capital of France {one}."
        )
        if language.max_content_chars is not None:
            lines.append(
                f"Keep sentences short: cite within the first {language.max_content_chars}"
                " characters of each sentence."
            )
    elif language.policy is Policy.QUOTES_ONLY:
        lines.append(
            "Quote the sources word for word inside double quotes and put the marker right"
            f' after each closing quote, like: "Paris is the capital"{one}. Use markers'
            " nowhere else."
        )
    else:
        lines.append(f"Put a marker after each statement that a source supports, like {one}.")
    return "\n".join(lines)


def _segment_instructions(language: CitationLanguage) -> str:
    n = language.n
    ids = "1" if n == 1 else f"1 to {n}"
    lines = [
        "Answer the question using only the numbered sources below.",
        'Reply with JSON: a list of segments, each one sentence of the answer in "text"'
        f' and, in "citations", the numbers ({ids}) of the sources that support it.',
        'Write no citation markers or source numbers inside "text".',
    ]
    if language.policy is Policy.REQUIRED:
        lines.append("Every segment must cite at least one source.")
    elif language.policy is Policy.QUOTES_ONLY:
        lines.append(
            'Put a passage copied word for word from a source in "quote" (no quotation'
            ' marks) and cite that source; leave "quote" empty when a segment quotes'
            " nothing."
        )
    else:
        lines.append('Leave "citations" empty for a segment no source supports.')
    return "\n".join(lines)


def format_sources(
    sources: Sequence[Source], language: CitationLanguage, budget: PromptBudget | None = None
) -> str:
    """The numbered source block, each labelled with the marker that cites it."""
    contents = fit_contents([s.content for s in sources], budget or PromptBudget())
    blocks = []
    for i, (source, content) in enumerate(zip(sources, contents, strict=True), start=1):
        title = f" {source.title}" if source.title else ""
        body = f"\n{content}" if content.strip() else ""  # a title-only source: one line
        blocks.append(f"{language.marker_style.marker([i])}{title}{body}")
    return "\n\n".join(blocks)


def build_messages(
    question: str,
    sources: Sequence[Source],
    language: CitationLanguage,
    budget: PromptBudget | None = None,
    *,
    segments: bool = False,
    history: Sequence[Message] = (),
) -> list[Message]:
    """Chat messages: system instructions, the conversation so far, sources and question.

    Args:
        question: The user's question.
        sources: The sources, in id order.
        language: The citation language.
        budget: How much source text the prompt may hold.
        segments: Instructions for the JSON segment format of schema-tier APIs
            (:mod:`citeformer.grammar.schema`) instead of inline markers.
        history: Earlier ``user``/``assistant`` turns (see :func:`check_history`);
            the sources and the citation language apply to the new answer only.
    """
    user = f"Sources:\n\n{format_sources(sources, language, budget)}\n\nQuestion: {question}"
    system = _segment_instructions(language) if segments else _instructions(language)
    return [
        {"role": "system", "content": system},
        *history,
        {"role": "user", "content": user},
    ]


def check_history(history: object) -> tuple[Message, ...]:
    """Earlier chat turns as messages, checked.

    Accepts ``{"role": "user" | "assistant", "content": str}`` mappings or
    ``(role, content)`` pairs, oldest first; ``human``/``ai`` are read as
    ``user``/``assistant``.

    Raises:
        InvalidPromptError: Not a sequence of turns, an unknown role, non-text content.
    """
    if history is None:
        return ()
    if isinstance(history, str | bytes) or not isinstance(history, Sequence):
        raise InvalidPromptError(
            f"history must be a list of {{'role', 'content'}} turns, got {type(history).__name__}"
        )
    turns: list[Message] = []
    for index, turn in enumerate(history):
        if isinstance(turn, Mapping):
            role, content = turn.get("role"), turn.get("content")
        elif isinstance(turn, Sequence) and not isinstance(turn, str) and len(turn) == 2:
            role, content = turn
        else:
            raise InvalidPromptError(
                f"history[{index}] is a {type(turn).__name__}; pass {{'role': 'user' | "
                "'assistant', 'content': str}"
            )
        role = _ROLES.get(role) if isinstance(role, str) else None
        if role is None:
            raise InvalidPromptError(
                f"history[{index}] has role {turn!r:.60}; use 'user' or 'assistant' (system "
                "instructions are citeformer's)"
            )
        if not isinstance(content, str):
            raise InvalidPromptError(
                f"history[{index}] content must be text, got {type(content).__name__}"
            )
        turns.append({"role": role, "content": content})
    return tuple(turns)


_ROLES: Final[dict[str, Literal["user", "assistant"]]] = {
    "user": "user", "human": "user", "assistant": "assistant", "ai": "assistant",
}  # fmt: skip


def build_prompt(
    question: str,
    sources: Sequence[Source],
    language: CitationLanguage,
    budget: PromptBudget | None = None,
) -> str:
    """The same content as one plain prompt, for completion-style models."""
    messages = build_messages(question, sources, language, budget)
    return "\n\n".join(m["content"] for m in messages) + "\n\nAnswer:"
