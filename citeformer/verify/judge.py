"""JudgeScorer: any citeformer backend asked "does the source support the claim?".

The answer is constrained to ``yes``/``no`` by the same machinery as citations
(:mod:`citeformer.backends.choice`): a grammar on local backends and grammar
servers, an enum JSON schema on schema-tier APIs, a forced enum tool on Anthropic.
The score is P(yes), read from the first-token log-probabilities where the backend
exposes them (HF logits, llama.cpp logits, OpenAI ``top_logprobs``) and normalised
over yes/no; elsewhere it is 1.0 for "yes" and 0.0 for "no".

An answer that is neither (a server that ignored the constraint, an out-of-tree
backend answering through ``generate()`` with prose) raises
:class:`~citeformer.backends.choice.UnparsableChoiceError`, a
:class:`~citeformer.errors.BackendError` naming the answer: it is never read as
"no".

On the async path, backends with a native async client (the API backends, and
out-of-tree ones that override ``agenerate``/``achoose``) are asked concurrently,
at most ``concurrency`` calls at a time, on the event loop: no threads. Local
backends (compute-bound, and llama.cpp serialises its calls) are run one pair after
another in a worker thread, as every CPU scorer is.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from citeformer.backends.base import Backend
from citeformer.backends.choice import Choice, has_native_achoose
from citeformer.errors import InvalidOptionError
from citeformer.verify.scorer import Pair, Scorer, ScorerKind, check_threshold

__all__ = ["JUDGE_INSTRUCTION", "JudgeScorer", "judge_question"]

JUDGE_INSTRUCTION = (
    "You check whether a source supports a claim. The claim is supported only if the "
    "source states it or it follows from the source. Answer with exactly one word: "
    "{options}. Write nothing else."
)
"""The judge's system instruction (``{options}`` becomes "yes or no")."""

OPTIONS = ("yes", "no")


def judge_question(claim: str) -> str:
    """The user question about one claim (the premise is the call's single source)."""
    return f"Claim: {claim}\n\nDoes Source [1] support the claim?"


class JudgeScorer(Scorer):
    """An LLM judge: P(yes) to "does the source support the claim?", constrained to yes/no.

    Args:
        backend: Any citeformer backend (local, API, mock or out-of-tree).
        threshold: Support threshold on P(yes).
        window_words: Premise window size, in words (small models read short ones best).
        concurrency: Most calls in flight at once on the async path (native-async
            backends only).
        instruction: The system instruction (``{options}`` becomes "yes or no").
        **call_options: Passed to every call (``timeout``, ``max_tokens``, ``model``...).

    Raises:
        InvalidOptionError: ``backend`` is not a citeformer backend, or an argument is bad.

    Example:
        >>> from citeformer.backends.mock import MockBackend
        >>> JudgeScorer(MockBackend("yes")).score("Paris is in France.", "Paris is French.")
        1.0
    """

    kind = ScorerKind.LLM_JUDGE

    def __init__(
        self,
        backend: Backend,
        *,
        threshold: float = 0.5,
        window_words: int = 250,
        concurrency: int = 16,
        instruction: str = JUDGE_INSTRUCTION,
        **call_options: Any,
    ) -> None:
        if not isinstance(backend, Backend):
            raise InvalidOptionError(
                "JudgeScorer needs a citeformer backend (citeformer.backends.base.Backend), "
                f"got {type(backend).__name__}"
            )
        for name, value in (("concurrency", concurrency), ("window_words", window_words)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidOptionError(f"{name} must be an int >= 1, got {value!r}")
        if not isinstance(instruction, str) or not instruction.strip():
            raise InvalidOptionError("instruction must be a non-empty str")
        self.backend = backend
        self.threshold = check_threshold(threshold)
        self.window_words = window_words
        self.concurrency = concurrency
        self.instruction = instruction
        self.call_options = dict(call_options)

    @property
    def model(self) -> str | None:
        """The backend's model id or path, where it has one."""
        return model_id(self.backend)

    @property
    def native_async(self) -> bool:
        """Whether :meth:`ascore_batch` awaits the backend concurrently (no threads)."""
        return has_native_achoose(self.backend)

    def choose(self, premise: str, claim: str) -> Choice:
        """The backend's yes/no answer for one pair, with its probabilities."""
        return self.backend.choose(judge_question(claim), [premise], OPTIONS,
                                   instruction=self.instruction, **self.call_options)  # fmt: skip

    async def achoose(self, premise: str, claim: str) -> Choice:
        """Async :meth:`choose`."""
        question, backend = judge_question(claim), self.backend
        return await backend.achoose(question, [premise], OPTIONS,
                                     instruction=self.instruction, **self.call_options)  # fmt: skip

    def score_batch(self, pairs: Sequence[Pair]) -> list[float]:
        """P(yes) for each (premise, claim) pair, one call per pair, in order."""
        return [p_yes(self.choose(premise, claim)) for premise, claim in pairs]

    async def ascore_batch(self, pairs: Sequence[Pair]) -> list[float]:
        """Async :meth:`score_batch`: concurrent native calls, or one worker thread.

        The first failure cancels the calls still in flight and is raised.
        """
        if not pairs or not self.native_async:
            return await super().ascore_batch(pairs)
        gate = asyncio.Semaphore(self.concurrency)

        async def one(premise: str, claim: str) -> float:
            async with gate:
                return p_yes(await self.achoose(premise, claim))

        tasks = [asyncio.ensure_future(one(premise, claim)) for premise, claim in pairs]
        try:
            return list(await asyncio.gather(*tasks))
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)  # none is left running
            raise

    def __repr__(self) -> str:
        return f"JudgeScorer({self.backend!r}, threshold={self.threshold})"


def p_yes(choice: Choice) -> float:
    """The score of a choice: P(yes), or 1.0/0.0 where no probabilities were read."""
    return choice.probability("yes")


def model_id(backend: Backend) -> str | None:
    """A backend's model id or path: an API model name, an HF name or folder, a GGUF file."""
    model = getattr(backend, "model", None)
    if isinstance(model, str):
        return model
    config = getattr(model, "config", None)  # a transformers model (HFBackend)
    name = getattr(config, "_name_or_path", None)
    if isinstance(name, str) and name:
        return name
    llama = getattr(backend, "llama", None)  # a llama_cpp.Llama (LlamaCppBackend)
    path = getattr(llama, "model_path", None)
    if isinstance(path, str) and path:
        return Path(path).name
    return None
