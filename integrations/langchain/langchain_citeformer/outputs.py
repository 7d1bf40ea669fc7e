"""The three output shapes: a message (default), a plain string, or a dict.

Each shape says what ``invoke`` returns and what the stream yields; for every
shape the streamed chunks add up (``+``) to what ``invoke`` returns.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Literal

from citeformer import GenerationResult
from langchain_core.documents import Document
from langchain_core.messages import content as types
from langchain_core.runnables.utils import AddableDict

from langchain_citeformer.messages import (
    citation_annotation,
    citation_chunk,
    final_chunk,
    result_message,
    text_chunk,
)

OutputMode = Literal["message", "str", "dict"]
"""``message``: ``AIMessage``/``AIMessageChunk``; ``str``: the answer text;
``dict``: ``{"answer", "citations", "context"}``."""


class Shaper:
    """Builds one output shape from results and stream events.

    Args:
        mode: The output shape.
        documents: The call's documents (``documents[i]`` is id ``i + 1``).
        backend: The backend's name, for the message metadata.
    """

    def __init__(self, mode: OutputMode, documents: Sequence[Document], backend: str) -> None:
        self.mode = mode
        self.documents = documents
        self.backend = backend

    def whole(self, result: GenerationResult) -> Any:
        """What ``invoke`` returns for ``result``."""
        if self.mode == "str":
            return result.text
        if self.mode == "dict":
            return {
                "answer": result.text,
                "citations": self.annotations(result),
                "context": list(self.documents),
            }
        return result_message(result, self.documents, self.backend)

    def annotations(self, result: GenerationResult) -> list[types.Citation]:
        """The result's citations as annotations."""
        return [citation_annotation(c, result.sources, self.documents) for c in result.citations]

    def start(self) -> Iterator[Any]:
        """Chunks to yield before any text (the dict shape announces its context)."""
        if self.mode == "dict":
            yield AddableDict(answer="", citations=[], context=list(self.documents))

    def text(self, delta: str) -> Any:
        """The chunk for new answer text."""
        if self.mode == "str":
            return delta
        if self.mode == "dict":
            return AddableDict(answer=delta)
        return text_chunk(delta)

    def citation(self, annotation: types.Citation) -> Any | None:
        """The chunk for one resolved citation (None: this shape has no such chunk)."""
        if self.mode == "str":
            return None
        if self.mode == "dict":
            return AddableDict(citations=[annotation])
        return citation_chunk(annotation)

    def end(self, result: GenerationResult) -> Any | None:
        """The last chunk, once the result is known (None: nothing to add)."""
        if self.mode == "message":
            return final_chunk(result, self.documents, self.backend)
        return None
