"""Reading the runnable's input: the question and the documents to cite."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from citeformer import InvalidSourceError, Source
from citeformer.errors import InvalidPromptError
from langchain_core.documents import Document
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from langchain_core.prompt_values import PromptValue
from typing_extensions import TypedDict

from langchain_citeformer.documents import (
    MetadataMapper,
    split_grounded,
    to_document,
    to_source,
)

QUESTION_KEYS = ("question", "input", "query")
"""Input keys that may hold the question, in order of preference."""
DOCUMENT_KEYS = ("documents", "context")
"""Input keys that may hold the documents, in order of preference."""
HISTORY_KEYS = ("chat_history", "history", "messages")
"""Input keys that may hold the conversation so far, in order of preference."""


class CiteformerInput(TypedDict, total=False):
    """The dict input: one question key and one documents key."""

    question: str
    input: str
    query: str
    documents: Sequence[Document | str | Source]
    context: Sequence[Document | str | Source]
    chat_history: Sequence[BaseMessage | tuple[str, str]]
    history: Sequence[BaseMessage | tuple[str, str]]
    messages: Sequence[BaseMessage | tuple[str, str]]


@dataclass(frozen=True, slots=True)
class Question:
    """A parsed input: the question, and the documents if the input carried them.

    Attributes:
        text: The question.
        items: The supplied documents as given, or None when a retriever must
            find them.
        history: Earlier turns as ``{"role", "content"}`` messages, oldest first.
    """

    text: str
    items: Sequence[object] | None
    history: tuple[dict[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Grounding:
    """What one call cites: documents and the matching sources, in id order.

    Attributes:
        question: The question.
        documents: ``documents[i]`` is cited as ``i + 1``.
        sources: The citeformer sources built from them.
        history: Earlier turns, sent to the backend before the question.
    """

    question: str
    documents: tuple[Document, ...]
    sources: tuple[Source, ...]
    history: tuple[dict[str, str], ...] = field(default=())

    def call_options(self, options: Mapping[str, Any]) -> dict[str, Any]:
        """The core's options for this call, with the conversation when there is one."""
        return {**options, "history": self.history} if self.history else dict(options)


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
    if isinstance(value, PromptValue):
        value = value.to_messages()  # a ChatPromptTemplate's output
    if _is_message_list(value):
        return _from_messages(value, None, has_retriever=has_retriever)
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
    history_key = next((k for k in HISTORY_KEYS if k in value), None)
    if question_key is None and history_key == "messages":  # {"messages": [..., question]}
        documents = _documents(value, has_retriever=has_retriever)
        return _from_messages(value["messages"], documents, has_retriever=has_retriever)
    if question_key is None:
        raise InvalidPromptError(
            f"input has no question: use one of the keys {', '.join(QUESTION_KEYS)} "
            f"(got keys {', '.join(map(str, value)) or 'none'})"
        )
    text = _question_text(value[question_key], question_key)
    history = _history(value[history_key], history_key) if history_key else ()
    return Question(text, _documents(value, has_retriever=has_retriever), history)


def _documents(value: Mapping[str, Any], *, has_retriever: bool) -> Sequence[object] | None:
    documents_key = next((k for k in DOCUMENT_KEYS if k in value), None)
    if documents_key is None:
        if not has_retriever:
            raise InvalidSourceError(
                f"input has no documents: add them under {' or '.join(DOCUMENT_KEYS)}, "
                "or build the runnable with CiteformerRunnable.from_retriever(...)"
            )
        return None
    return _document_list(value[documents_key], documents_key)


def _is_message_list(value: object) -> bool:
    return (
        isinstance(value, Sequence)
        and not isinstance(value, str)
        and bool(value)
        and all(isinstance(m, BaseMessage) for m in value)
    )


def _from_messages(
    messages: object, documents: Sequence[object] | None, *, has_retriever: bool
) -> Question:
    """A conversation whose last human turn is the question."""
    turns = list(_history(messages, "messages"))
    if not turns or turns[-1]["role"] != "user":
        raise InvalidPromptError(
            "a list of messages must end with the user's question (a HumanMessage)"
        )
    if documents is None and not has_retriever:
        raise InvalidSourceError(
            "a list of messages needs documents: build the runnable with "
            "CiteformerRunnable.from_retriever(retriever, ...), or pass "
            "{'messages': [...], 'documents': [...]}"
        )
    question = _question_text(turns[-1]["content"], "messages")
    return Question(question, documents, tuple(turns[:-1]))


def _history(value: object, key: str) -> tuple[dict[str, str], ...]:
    """Earlier turns from LangChain messages, ``(role, text)`` pairs or role dicts.

    System and tool messages are left out: citeformer's instructions govern the call,
    and tool results are not sources (pass those as documents).
    """
    if isinstance(value, PromptValue):
        value = value.to_messages()
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise InvalidPromptError(
            f"input[{key!r}] must be a list of messages (HumanMessage, AIMessage or "
            f"(role, text) pairs), got {type(value).__name__}"
        )
    turns: list[dict[str, str]] = []
    for index, item in enumerate(value):
        if isinstance(item, HumanMessage):
            turns.append({"role": "user", "content": item.text})
        elif isinstance(item, AIMessage):
            turns.append({"role": "assistant", "content": item.text})
        elif isinstance(item, BaseMessage):
            continue  # system, tool and function messages
        elif isinstance(item, Mapping) or (isinstance(item, tuple) and len(item) == 2):
            role, content = (
                (item.get("role"), item.get("content")) if isinstance(item, Mapping) else item
            )
            if role == "system":
                continue
            turns.append({"role": str(role), "content": cast(str, content)})  # the core checks
        else:
            raise InvalidPromptError(
                f"input[{key!r}][{index}] is a {type(item).__name__}; pass LangChain "
                "messages or (role, text) pairs"
            )
    return tuple(turns)


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


def ground(
    question: str,
    items: Sequence[object],
    mapper: MetadataMapper | None,
    history: tuple[dict[str, str], ...] = (),
    chunking: tuple[int, int] | None = None,
) -> Grounding:
    """Number the documents as sources.

    Args:
        question: The question.
        items: The supplied or retrieved documents.
        mapper: Replaces the default CSL mapping.
        history: Earlier turns.
        chunking: ``(chunk_size, chunk_overlap)``: cut each document into citable
            sub-chunks of at most that many characters first.

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
    if chunking is not None:
        pairs = [
            piece
            for pair in zip(documents, sources, strict=True)
            for piece in split_grounded(*pair, *chunking)
        ]
        documents = tuple(document for document, _ in pairs)
        sources = tuple(source for _, source in pairs)
    return Grounding(question, documents, sources, history)
