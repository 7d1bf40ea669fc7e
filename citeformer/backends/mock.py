"""MockBackend: scripted replies for tests and docs (yours and ours)."""

from __future__ import annotations

import itertools
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence

from citeformer.backends.base import BackendCall, CallBackend, CallInfo, Piece
from citeformer.backends.base import Reply as CallReply
from citeformer.backends.choice import Choice, ChoiceCall, parse_choice
from citeformer.core import Enforcement, Source, TokenUsage
from citeformer.errors import InvalidOptionError

Reply = str | Sequence[str] | Mapping[str, str] | Callable[[str, Sequence[Source]], str]
Chunking = int | Sequence[int] | Callable[[str], Sequence[str]]
Probabilities = Mapping[str, float] | Callable[[str, Sequence[Source]], Mapping[str, float]]


class MockBackend(CallBackend):
    """A backend that returns scripted text, streamed in the chunks you choose.

    Args:
        replies: One reply for every call; a list used in turn (round robin); a
            mapping from prompt to reply; or ``f(prompt, sources) -> reply``.
        chunks: How ``stream`` splits a reply: a chunk size, a list of sizes used
            in turn, or ``f(text) -> chunks``. Splits may fall inside markers.
        usage: Token usage reported per call, or ``f(prompt) -> TokenUsage``.
        finish_reason: Finish reason reported per call.
        error: Raised by every call (at once, or after ``error_after`` chunks).
        error_after: With ``error``, stream this many chunks before raising.
        delay: Seconds to sleep per call (``generate``, ``choose``) or per chunk
            (``stream``).
        probabilities: What ``choose`` reports as the options' probabilities (a
            mapping, or ``f(prompt, sources) -> mapping``), normalised over the offered
            options; None (the default) reports none, as a backend without log-probs.
            ``choose`` answers with the scripted reply (parsed as any out-of-tree
            backend's answer is).
        responses: The 0.3 spelling of ``replies={prompt: reply}`` (deprecated; an
            unscripted prompt is an error, never echoed back).

    Example:
        >>> backend = MockBackend("Paris is the capital [1].", chunks=3)
    """

    name = "mock"
    enforcement = Enforcement.VALIDATED

    def __init__(
        self,
        replies: Reply = "",
        *,
        chunks: Chunking = 4,
        usage: TokenUsage | Callable[[str], TokenUsage] | None = None,
        finish_reason: str | None = "stop",
        error: BaseException | None = None,
        error_after: int = 0,
        delay: float = 0.0,
        probabilities: Probabilities | None = None,
        responses: Mapping[str, str] | None = None,
    ) -> None:
        if responses is not None:
            replies = _responses(replies, responses)
        if isinstance(replies, Mapping):
            if not all(isinstance(k, str) and isinstance(v, str) for k, v in replies.items()):
                raise InvalidOptionError("MockBackend replies by prompt must map str to str")
        elif not isinstance(replies, str) and not callable(replies):
            if not isinstance(replies, Sequence) or isinstance(replies, bytes):
                raise InvalidOptionError(
                    f"MockBackend replies must be a str, a list of str, a dict from prompt to "
                    f"reply, or a function (prompt, sources) -> str; got {type(replies).__name__}"
                )
            replies = list(replies)
            if not replies or not all(isinstance(r, str) for r in replies):
                raise InvalidOptionError("MockBackend replies must be non-empty strings")
        if not callable(chunks) and not _chunk_sizes(chunks):
            raise InvalidOptionError(
                f"MockBackend chunks must be a positive chunk size, a list of them, or a "
                f"function text -> chunks; got {chunks!r}"
            )
        self._replies = replies
        self._chunks = chunks
        self._usage = usage
        self._finish_reason = finish_reason
        self._error = error
        self._error_after = error_after
        self._delay = delay
        self._probabilities = probabilities
        # Round-robin position is scripted behaviour, not per-call state.
        self._turn = itertools.count()
        self._turn_lock = threading.Lock()

    def _reply(self, prompt: str, sources: Sequence[Source]) -> str:
        replies = self._replies
        if isinstance(replies, str):
            return replies
        if isinstance(replies, Mapping):
            if prompt not in replies:
                known = ", ".join(repr(k) for k in list(replies)[:5])
                raise InvalidOptionError(
                    f"MockBackend has no reply scripted for prompt {prompt!r}; scripted: {known}"
                )
            return replies[prompt]
        if callable(replies):
            return replies(prompt, sources)
        with self._turn_lock:
            turn = next(self._turn)
        return replies[turn % len(replies)]

    def _info(self, prompt: str) -> CallInfo:
        usage = self._usage(prompt) if callable(self._usage) else self._usage
        return CallInfo(usage=usage, finish_reason=self._finish_reason)

    def split(self, text: str) -> list[str]:
        """The chunks ``stream`` yields for ``text``."""
        chunks = self._chunks
        if callable(chunks):
            return list(chunks(text))
        sizes = itertools.cycle([chunks] if isinstance(chunks, int) else chunks)
        out: list[str] = []
        i = 0
        while i < len(text):
            size = max(1, next(sizes))
            out.append(text[i : i + size])
            i += size
        return out

    def _complete(self, call: BackendCall) -> CallReply:
        """The scripted reply."""
        if self._error is not None:
            raise self._error
        if self._delay:
            time.sleep(self._delay)
        return CallReply(self._reply(call.prompt, call.sources), self._info(call.prompt))

    def _complete_stream(self, call: BackendCall) -> Iterator[Piece]:
        """The scripted reply in chunks, then the call's facts."""
        text = self._reply(call.prompt, call.sources)
        for i, chunk in enumerate(self.split(text)):
            if self._error is not None and i >= self._error_after:
                raise self._error
            if self._delay:
                time.sleep(self._delay)
            yield chunk
        if self._error is not None:
            raise self._error
        yield self._info(call.prompt)

    def _choose(self, call: ChoiceCall) -> Choice:
        """The scripted reply as the choice, with the scripted probabilities."""
        if self._error is not None:
            raise self._error
        if self._delay:
            time.sleep(self._delay)
        reply = self._reply(call.prompt, call.sources)
        text = parse_choice(reply, call.options, provider=self.name)
        scripted = self._probabilities
        if callable(scripted):
            scripted = scripted(call.prompt, call.sources)
        if scripted is None:
            return Choice(text, None)
        masses = {o: float(scripted.get(o, 0.0)) for o in call.options}
        total = sum(masses.values())
        if total <= 0 or any(m < 0 for m in masses.values()):
            raise InvalidOptionError(
                f"MockBackend probabilities must be >= 0 and not all 0 over {call.options}"
            )
        return Choice(text, {o: m / total for o, m in masses.items()})

    def __repr__(self) -> str:
        return f"MockBackend(chunks={self._chunks!r})"


def _chunk_sizes(chunks: object) -> bool:
    """Whether ``chunks`` is a positive int or a non-empty sequence of them."""

    def size(value: object) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and value >= 1

    if isinstance(chunks, Sequence) and not isinstance(chunks, (str, bytes)):
        return bool(chunks) and all(size(c) for c in chunks)
    return size(chunks)


def _responses(replies: Reply, responses: Mapping[str, str]) -> Reply:
    """The 0.3 spelling ``responses={prompt: reply}``: the same as ``replies=`` with a dict.

    Without the 0.3 echo fallback: a prompt with no scripted reply is an error, so a
    typo in a test's prompt cannot pass unnoticed.
    """
    warnings.warn(
        "MockBackend(responses=...) is the 0.3 spelling; pass the same mapping as "
        "MockBackend(replies={prompt: reply}) (or positionally)",
        DeprecationWarning,
        stacklevel=3,
    )
    if replies != "":
        raise InvalidOptionError("pass replies= or responses=, not both")
    if not isinstance(responses, Mapping):
        raise InvalidOptionError(
            f"MockBackend responses= must map prompt to reply, got {type(responses).__name__}"
        )
    return responses
