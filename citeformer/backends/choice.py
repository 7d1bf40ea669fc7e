"""Constrained choices: a backend asked a question whose answer is one of a few options.

``verify()``'s LLM judge asks "does the source support the claim?" and must get
``yes`` or ``no``, never prose. Each backend answers with the same machinery it
uses for citations:

==================  ===============================================  ======================
backend             constraint                                       probabilities
==================  ===============================================  ======================
HF                  XGrammar grammar of the options (first-step      masked softmax at the
                    bitmask)                                         first token
llama.cpp           GBNF grammar of the options (its grammar         masked softmax at the
                    sampler)                                         first token
OpenAI family       enum JSON schema (schema tier) or the options'   ``top_logprobs`` at the
                    grammar in the server's field (grammar servers)  deciding token
Anthropic           a forced tool whose input is an enum             none (0/1)
Gemini              ``text/x.enum`` response with the options        none (0/1)
Mistral             strict enum JSON schema                          none (0/1)
vLLM                the options' grammar as a structured output      none (0/1)
out-of-tree         plain instruction through ``generate()``; the    none (0/1)
                    first word is parsed
==================  ===============================================  ======================

P(option) is the probability mass of the first tokens consistent with that option
(the token's text is a prefix of the option, or the option followed by what the
format puts after it), normalised over the options. When options share a first
token, its mass is split evenly between them (yes/no share none).

An answer that is none of the options (a server that ignored the constraint, an
out-of-tree backend that wrote "Maybe") raises :class:`UnparsableChoiceError`; it
never silently becomes one of the options.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from citeformer._coerce import coerce_sources
from citeformer.backends.call import CitationRequest
from citeformer.core import Policy, Source
from citeformer.errors import BackendError, InvalidOptionError
from citeformer.options import Check, normalize_options
from citeformer.prompts import Message

if TYPE_CHECKING:
    from citeformer.backends.base import Backend

__all__ = [
    "Choice",
    "ChoiceCall",
    "UnparsableChoiceError",
    "choice_schema",
    "choose_by_generate",
    "generate_arguments",
    "has_native_achoose",
    "json_answer",
    "options_ebnf",
    "options_gbnf",
    "parse_choice",
    "probabilities_from",
]

DEFAULT_MAX_TOKENS = 16
"""The token budget of a choice when the call sets none (an option and its wrapping)."""
DEFAULT_INSTRUCTION = "Answer with exactly one word: {options}. Write nothing else."


@dataclass(frozen=True, slots=True)
class Choice:
    """What a backend chose.

    Attributes:
        text: One of the offered options, exactly as offered.
        probabilities: Each option's probability, normalised over the options (they
            sum to 1), where the backend read first-token log-probabilities; None
            where it cannot (the answer is then all the backend tells).
    """

    text: str
    probabilities: Mapping[str, float] | None = None

    def probability(self, option: str) -> float:
        """P(``option``): from :attr:`probabilities`, else 1.0 if chosen and 0.0 if not."""
        if self.probabilities is None:
            return 1.0 if option == self.text else 0.0
        return float(self.probabilities.get(option, 0.0))


class UnparsableChoiceError(BackendError):
    """The backend answered with none of the offered options.

    Attributes:
        answer: What it answered (truncated to 200 characters).
        options: The options it was offered.
    """

    def __init__(self, answer: str, options: Sequence[str], *, provider: str) -> None:
        shown = answer if len(answer) <= 200 else answer[:197] + "..."
        super().__init__(
            f"the answer {shown!r} is none of the options {', '.join(map(repr, options))}; "
            "the backend did not honour the constraint (an out-of-tree backend answers "
            "through generate() unconstrained: make it answer with one option word)",
            provider=provider,
        )
        self.answer = shown
        self.options = tuple(options)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (self.answer, self.options, self.provider))


def _rebuild(answer: str, options: tuple[str, ...], provider: str) -> UnparsableChoiceError:
    return UnparsableChoiceError(answer, options, provider=provider)


def check_options(options: object) -> tuple[str, ...]:
    """``options`` as a tuple of at least two distinct, non-empty strings.

    Raises:
        InvalidOptionError: They are not.
    """
    if isinstance(options, (str, bytes)) or not isinstance(options, Iterable):
        raise InvalidOptionError(f"options must be a list of strings, got {options!r}")
    out = tuple(options)
    if len(out) < 2 or not all(isinstance(o, str) and o.strip() for o in out):
        raise InvalidOptionError(f"options must be two or more non-empty strings, got {out!r}")
    if len(set(out)) != len(out):
        raise InvalidOptionError(f"options must be distinct, got {out!r}")
    return out


@dataclass(frozen=True)
class ChoiceCall:
    """One prepared choice: the question, its sources, the options and the call options.

    Attributes:
        prompt: The question.
        sources: What the question is about (numbered in the messages).
        options: The allowed answers.
        instruction: The system instruction (``{options}`` is replaced by the options).
        call_options: The checked call options (``max_tokens``, ``timeout``...).
    """

    prompt: str
    sources: tuple[Source, ...]
    options: tuple[str, ...]
    instruction: str = DEFAULT_INSTRUCTION
    call_options: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        prompt: str,
        sources: Sequence[Source | str],
        options: Sequence[str],
        *,
        instruction: str | None = None,
        call_options: Mapping[str, Any] | None = None,
        checks: Mapping[str, Check] | None = None,
    ) -> ChoiceCall:
        """Check and prepare a choice.

        Raises:
            InvalidOptionError: Bad options or call options.
            InvalidSourceError: ``sources`` is not a non-empty list of Source or str.
        """
        if not isinstance(prompt, str):
            raise InvalidOptionError(f"the prompt must be a str, got {type(prompt).__name__}")
        if instruction is not None and not isinstance(instruction, str):
            raise InvalidOptionError("instruction must be a str")
        return cls(
            prompt,
            tuple(coerce_sources(sources)),
            check_options(options),
            instruction or DEFAULT_INSTRUCTION,
            normalize_options(dict(call_options or {}), checks),
        )

    @property
    def system(self) -> str:
        """The system instruction with the options filled in."""
        return self.instruction.replace("{options}", " or ".join(self.options))

    @property
    def messages(self) -> list[Message]:
        """Chat messages: the instruction, then the numbered sources and the question."""
        blocks = [
            f"Source [{i}]:\n{source.content}" for i, source in enumerate(self.sources, start=1)
        ]
        user = "\n\n".join([*blocks, self.prompt, f"Answer {' or '.join(self.options)}."])
        return [{"role": "system", "content": self.system}, {"role": "user", "content": user}]

    @functools.cached_property
    def request(self) -> CitationRequest:
        """This question as a citation request with :attr:`messages` (API plumbing carries one)."""
        request = CitationRequest.build(self.prompt, self.sources, Policy.AUTO)
        return request.with_messages(self.messages)


def parse_choice(answer: str, options: Sequence[str], *, provider: str) -> str:
    """The option ``answer`` gives: itself, or its first word (case and punctuation aside).

    Raises:
        UnparsableChoiceError: It gives none of them.
    """
    stripped = answer.strip()
    if stripped in options:
        return stripped
    folded = {o.casefold(): o for o in options}
    words = re.findall(r"[^\W_]+(?:['-][^\W_]+)*", stripped)
    if words and words[0].casefold() in folded:
        return folded[words[0].casefold()]
    raise UnparsableChoiceError(answer, options, provider=provider)


def probabilities_from(
    masses: Iterable[tuple[str | bytes, float]], options: Sequence[str], *, fold: bool = False
) -> dict[str, float] | None:
    """Normalised P(option) from (first-token text, probability) pairs.

    A token counts for the options its text is a prefix of, or that are a prefix of
    it (split evenly when there are several); other tokens are ignored. A ``bytes``
    token is compared with the option's UTF-8 bytes (a token may end inside a
    character). ``fold`` compares case-folded, with leading whitespace dropped
    (unconstrained answers: " Yes" counts for "yes").

    Returns:
        The probabilities, or None when no token is consistent with any option.
    """
    keyed = [(o.casefold() if fold else o, o) for o in options]
    raw = [(o.encode("utf-8"), o) for o in options]
    total = dict.fromkeys(options, 0.0)
    for text, mass in masses:
        if not text or not math.isfinite(mass) or mass <= 0:
            continue
        if isinstance(text, bytes):
            hits = [o for key, o in raw if key.startswith(text) or text.startswith(key)]
        else:
            token = text.lstrip().casefold() if fold else text
            hits = [o for k, o in keyed if token and (k.startswith(token) or token.startswith(k))]
        for option in hits:
            total[option] += mass / len(hits)
    norm = sum(total.values())
    if norm <= 0:
        return None
    return {option: value / norm for option, value in total.items()}


def best(probabilities: Mapping[str, float], options: Sequence[str]) -> str:
    """The most probable option (the first offered wins a tie)."""
    return max(options, key=lambda o: probabilities.get(o, 0.0))


def choice_schema(options: Sequence[str]) -> dict[str, Any]:
    """The strict JSON schema of an answer: one property, an enum of the options."""
    return {
        "type": "object",
        "properties": {"answer": {"type": "string", "enum": list(options)}},
        "required": ["answer"],
        "additionalProperties": False,
    }


def json_answer(content: str, options: Sequence[str], *, provider: str) -> str:
    """The option in a :func:`choice_schema` document (``{"answer": "yes"}``).

    Raises:
        UnparsableChoiceError: Not such a document, or the answer is no option.
    """
    import json

    try:
        document = json.loads(content)
    except ValueError:
        raise UnparsableChoiceError(content, options, provider=provider) from None
    answer = document.get("answer") if isinstance(document, Mapping) else None
    if not isinstance(answer, str) or answer not in options:
        raise UnparsableChoiceError(content, options, provider=provider)
    return answer


def options_ebnf(options: Sequence[str]) -> str:
    """XGrammar EBNF admitting exactly the options."""
    from citeformer.grammar.notation import _ebnf_literal

    return "root ::= " + " | ".join(_ebnf_literal(o) for o in options)


def options_gbnf(options: Sequence[str]) -> str:
    """GBNF (llama.cpp) admitting exactly the options (its literals read the same escapes)."""
    return options_ebnf(options)


def choose_by_generate(backend: Backend, call: ChoiceCall, answer: str) -> Choice:
    """The :class:`Choice` in an answer written through the public ``generate()``."""
    text = parse_choice(answer, call.options, provider=backend.name)
    return Choice(text, None)


def generate_arguments(call: ChoiceCall) -> tuple[str, list[Source], Policy, dict[str, Any]]:
    """``generate(prompt, sources, policy, **options)`` arguments asking the question.

    The instruction and the question become the prompt, and the sources stay the
    sources; the policy is ``AUTO`` (citing is optional, so a one-word answer is legal).
    """
    prompt = f"{call.system}\n\n{call.prompt}\n\nAnswer {' or '.join(call.options)}."
    options = dict(call.call_options)
    if options.get("max_tokens") is None:  # one word is the answer; prose is not read
        options["max_tokens"] = options["max_new_tokens"] = DEFAULT_MAX_TOKENS
    return prompt, list(call.sources), Policy.AUTO, options


def has_native_achoose(backend: Backend) -> bool:
    """Whether ``backend.achoose`` awaits I/O natively rather than a worker thread.

    In-tree backends are native when they override ``_achoose`` (the API backends);
    an out-of-tree backend when it overrides ``achoose``, ``_achoose`` or
    ``agenerate`` (the default ``achoose`` awaits ``agenerate``).
    """
    from citeformer.backends.base import Backend, CallBackend

    cls = type(backend)
    if isinstance(backend, CallBackend):
        return cls._achoose is not CallBackend._achoose
    return any(getattr(cls, name) is not getattr(Backend, name)
               for name in ("achoose", "_achoose", "agenerate"))  # fmt: skip
