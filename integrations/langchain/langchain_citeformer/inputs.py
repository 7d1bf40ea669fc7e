"""Reading the runnable's input: the question and the documents to cite."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from citeformer import InvalidSourceError, Source
from citeformer.errors import InvalidPromptError
from langchain_core.documents import Document
from langchain_core.messages import BaseMessage
from typing_extensions import TypedDict

from langchain_citeformer.documents import MetadataMapper, to_document, to_source

QUESTION_KEYS = ("question", "input", "query")
"""Input keys that may hold the question, in order of preference."""
DOCUMENT_KEYS = ("documents", "context")
"""Input keys that may hold the documents, in order of preference."""


class CiteformerInput(TypedDict, total=False):
    """The dict input: one question key and one documents key."""

    question: str
    input: str
    query: str
    documents: Sequence[Document | str | Source]
    context: Sequence[Document | str | Source]


@dataclass(frozen=True, slots=True)
class Question:
    """A parsed input: the question, and the documents if the input carried them.

    Attributes:
        text: The question.
        items: The supplied documents as given, or None when a retriever must
            find them.
    """

    text: str
    items: Sequence[object] | None


@dataclass(frozen=True, slots=True)
class Grounding:
    """What one call cites: documents and the matching sources, in id order.

    Attributes:
        question: The question.
        documents: ``documents[i]`` is cited as ``i + 1``.
        sources: The citeformer sources built from them.
    """

    question: str
    documents: tuple[Document, ...]
    sources: tuple[Source, ...]


def _question_text(value: object, key: str) -> str:
    if isinstance(value, BaseMessage):
        value = value.text
    if not isinstance(value, str) or not value.strip():
        raise InvalidPromptError(
            f"input[{key!r}] must be a non-empty question string, got {value!r:.80}"
        )
    return value


def parse_input(value: object, *, has_retriever: bool) -> Question:
    """Read the question (and documents, if present) from a runnable input.

    Args:
        value: A dict with ``question``/``input``/``query`` and optionally
            ``documents``/``context``; or a plain question string.
        has_retriever: Whether the runnable can fetch documents itself.

    Raises:
        InvalidPromptError: No usable question.
        InvalidSourceError: No documents and no retriever to find them.
    """
    if isinstance(value, str | BaseMessage):
        text = _question_text(value, "question")
        if not has_retriever:
            raise InvalidSourceError(
                "a plain-string input needs documents: build the runnable with "
                "CiteformerRunnable.from_retriever(retriever, ...), or pass "
                "{'question': ..., 'documents': [...]}"
            )
        return Question(text, None)
    if not isinstance(value, Mapping):
        raise InvalidPromptError(
            f"input must be a dict with 'question' and 'documents' or a question string, "
            f"got {type(value).__name__}"
        )
    question_key = next((k for k in QUESTION_KEYS if k in value), None)
    if question_key is None:
        raise InvalidPromptError(
            f"input has no question: use one of the keys {', '.join(QUESTION_KEYS)} "
            f"(got keys {', '.join(map(str, value)) or 'none'})"
        )
    text = _question_text(value[question_key], question_key)
    documents_key = next((k for k in DOCUMENT_KEYS if k in value), None)
    if documents_key is None:
        if not has_retriever:
            raise InvalidSourceError(
                f"input has no documents: add them under {' or '.join(DOCUMENT_KEYS)}, "
                "or build the runnable with CiteformerRunnable.from_retriever(...)"
            )
        return Question(text, None)
    return Question(text, _document_list(value[documents_key], documents_key))


def _document_list(items: object, key: str) -> Sequence[object]:
    if isinstance(items, Document | Source):
        return [items]
    if isinstance(items, str) or not isinstance(items, Sequence):
        hint = (
            "a single formatted string loses the document boundaries; pass the list of "
            "Documents (the retriever's output) or wrap one text as [text]"
            if isinstance(items, str)
            else "pass a list of Documents, strings or citeformer Sources"
        )
        raise InvalidSourceError(f"input[{key!r}] is a {type(items).__name__}: {hint}")
    return items


def ground(question: str, items: Sequence[object], mapper: MetadataMapper | None) -> Grounding:
    """Number the documents as sources.

    Raises:
        InvalidSourceError: ``items`` is empty or holds an unsupported type.
    """
    if not items:
        raise InvalidSourceError(
            "no documents to cite (the list is empty, or the retriever found nothing); "
            "citeformer needs at least one document"
        )
    documents = tuple(to_document(item, i) for i, item in enumerate(items))
    sources = tuple(
        to_source(item, document, mapper) for item, document in zip(items, documents, strict=True)
    )
    return Grounding(question, documents, sources)
