"""The three output shapes: a message (default), a plain string, or a dict.

Each shape says what ``invoke`` returns and what the stream yields; for every
shape the streamed chunks add up (``+``) to what ``invoke`` returns, verified or
not: a verified stream holds its citation chunks back until the verdicts are
known (:meth:`Shaper.verified`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Literal

from citeformer import GenerationResult
from citeformer.verify import VerificationReport
from langchain_core.documents import Document
from langchain_core.messages import content as types
from langchain_core.runnables.utils import AddableDict

from langchain_citeformer.messages import (
    citation_chunk,
    final_chunk,
    result_annotations,
    result_message,
    text_chunk,
)
from langchain_citeformer.verification import DICT_VERIFICATION_KEY

OutputMode = Literal["message", "str", "dict"]
"""``message``: ``AIMessage``/``AIMessageChunk``; ``str``: the answer text;
``dict``: ``{"answer", "citations", "context"}`` (and ``"verification"``, the
report's JSON form, when verified)."""


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

    def whole(
        self, result: GenerationResult, verification: VerificationReport | None = None
    ) -> Any:
        """What ``invoke`` returns for ``result`` (and its verification, if any)."""
        if self.mode == "str":
            return result.text
        if self.mode == "dict":
            out: dict[str, Any] = {
                "answer": result.text,
                "citations": self.annotations(result, verification),
                "context": list(self.documents),
            }
            if verification is not None:
                out[DICT_VERIFICATION_KEY] = verification.to_dict()
            return out
        return result_message(result, self.documents, self.backend, verification)

    def annotations(
        self, result: GenerationResult, verification: VerificationReport | None = None
    ) -> list[types.Citation]:
        """The result's citations as annotations (with their verdicts when verified)."""
        return result_annotations(result, self.documents, verification)

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

    def verified(self, result: GenerationResult, verification: VerificationReport) -> Iterator[Any]:
        """The chunks a verified stream ends with, once the report is known.

        One chunk per citation (held back while streaming, now with its verdict),
        then the last chunk: the metadata with the report (``message``), or the
        ``verification`` entry (``dict``). ``str`` adds nothing.
        """
        if self.mode == "str":
            return
        for annotation in self.annotations(result, verification):
            chunk = self.citation(annotation)
            if chunk is not None:
                yield chunk
        if self.mode == "dict":
            yield AddableDict({DICT_VERIFICATION_KEY: verification.to_dict()})
        else:
            yield final_chunk(result, self.documents, self.backend, verification)
