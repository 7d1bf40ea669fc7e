"""The runnable as an agent tool: content is the cited answer, the artifact its result.

An agent that calls the tool and then writes its own final answer is not
citation-checked: only the tool's text is. Return the tool's answer as it is
(``return_direct=True``) to keep the guarantee all the way to the user.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from citeformer import GenerationResult, InvalidOptionError
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import StructuredTool
from pydantic import BaseModel, Field

from langchain_citeformer.messages import generation_result

if TYPE_CHECKING:
    from langchain_citeformer.runnable import CiteformerRunnable

DEFAULT_NAME = "cited_answer"
DEFAULT_DESCRIPTION = (
    "Answers a question from the document collection, citing each claim with markers "
    "[1]..[N] that can only point at the documents retrieved, followed by their "
    "references. Input: the question, in full."
)


class CitedQuestion(BaseModel):
    """What the agent passes: one self-contained question."""

    question: str = Field(description="The question, complete without the conversation.")


def citeformer_tool(
    runnable: CiteformerRunnable[Any],
    *,
    name: str = DEFAULT_NAME,
    description: str = DEFAULT_DESCRIPTION,
    return_direct: bool = False,
) -> StructuredTool:
    """A ``StructuredTool`` with ``response_format="content_and_artifact"``.

    Args:
        runnable: A runnable with a retriever (the agent passes only a question).
        name: The tool's name for the model.
        description: What the model reads to decide when to call it.
        return_direct: End the agent's run with the tool's cited answer, so the user
            sees checked citations rather than the agent's rewording.

    Returns:
        The tool; its ``ToolMessage.content`` is the answer and references as text,
        its ``artifact`` the :class:`~citeformer.GenerationResult`.

    Raises:
        InvalidOptionError: The runnable has no retriever.
    """
    if runnable.retriever is None:
        raise InvalidOptionError(
            "a citeformer tool retrieves its own documents: build the runnable with "
            "CiteformerRunnable.from_retriever(retriever, backend) or retriever=..."
        )
    answering = runnable.model_copy(update={"output": "message"})

    def answer(question: str, config: RunnableConfig) -> tuple[str, GenerationResult]:
        return _content_and_artifact(answering.invoke(question, config))

    async def aanswer(question: str, config: RunnableConfig) -> tuple[str, GenerationResult]:
        return _content_and_artifact(await answering.ainvoke(question, config))

    return StructuredTool.from_function(
        func=answer,
        coroutine=aanswer,
        name=name,
        description=description,
        args_schema=CitedQuestion,
        return_direct=return_direct,
        response_format="content_and_artifact",
    )


def _content_and_artifact(message: Any) -> tuple[str, GenerationResult]:
    result = generation_result(message)
    return result.format(), result
