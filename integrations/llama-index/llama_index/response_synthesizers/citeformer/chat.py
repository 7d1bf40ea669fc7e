"""A chat engine that cites: retrieve for each turn, answer with the history, cite the nodes.

``CondensePlusContextChatEngine`` has no synthesizer slot, so its answers cannot be
cited; this engine keeps the guarantee across a conversation. Each turn retrieves
with the question (condensed first when ``condense`` is given: a follow-up like "who
built it?" retrieves poorly on its own), then :class:`CiteformerSynthesizer` answers
it with the earlier turns sent to the backend as chat turns (the core's
``history=``); the markers of each answer point at that turn's nodes only.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Generator, Iterator, Sequence
from typing import Any, Self, Unpack

from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.base.llms.types import ChatMessage, ChatResponse, MessageRole
from llama_index.core.base.response.schema import (
    RESPONSE_TYPE,
    AsyncStreamingResponse,
    Response,
    StreamingResponse,
)
from llama_index.core.chat_engine.types import (
    AgentChatResponse,
    BaseChatEngine,
    StreamingAgentChatResponse,
)
from llama_index.core.indices.base import BaseIndex
from llama_index.core.memory import ChatMemoryBuffer
from llama_index.core.memory.types import BaseMemory
from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.schema import NodeWithScore, QueryBundle
from llama_index.core.tools import ToolOutput
from llama_index.response_synthesizers.citeformer.base import (
    CiteformerSynthesizer,
    SynthesizerOptions,
)

from citeformer import Backend, Citeformer, InvalidOptionError

Condense = Callable[[Sequence[ChatMessage], str], str]
"""``f(history, question) -> standalone question`` used for retrieval."""

TOOL_NAME = "citeformer"


class CiteformerChatEngine(BaseChatEngine):
    """Condense (optionally), retrieve and cite, turn after turn.

    Args:
        retriever: Finds the nodes for each turn.
        citeformer: A ``Citeformer`` or a citeformer ``Backend``.
        memory: The conversation (default: a ``ChatMemoryBuffer``).
        condense: ``f(history, question) -> question`` for retrieval; default: the
            question as asked.
        node_postprocessors: Applied to each turn's retrieved nodes.
        **synthesizer_options: :class:`CiteformerSynthesizer` options (``policy``,
            ``verify``, ``node_to_csl``...); ``streaming`` is chosen per call.
    """

    def __init__(
        self,
        retriever: BaseRetriever,
        citeformer: Citeformer | Backend,
        *,
        memory: BaseMemory | None = None,
        condense: Condense | None = None,
        node_postprocessors: Sequence[BaseNodePostprocessor] | None = None,
        **synthesizer_options: Unpack[SynthesizerOptions],
    ) -> None:
        if not isinstance(retriever, BaseRetriever):
            raise InvalidOptionError(
                f"retriever must be a LlamaIndex retriever, got {type(retriever).__name__}"
            )
        if "streaming" in synthesizer_options:
            raise InvalidOptionError("streaming is per call: use chat() or stream_chat()")
        self._retriever = retriever
        self._memory = memory or ChatMemoryBuffer.from_defaults()
        self._condense = condense
        self._postprocessors = list(node_postprocessors or [])
        self._whole = CiteformerSynthesizer(citeformer, **synthesizer_options)
        self._streamed = CiteformerSynthesizer(
            self._whole.citeformer, streaming=True, **synthesizer_options
        )

    @classmethod
    def from_index(
        cls,
        index: BaseIndex[Any],
        citeformer: Citeformer | Backend,
        *,
        similarity_top_k: int | None = None,
        memory: BaseMemory | None = None,
        condense: Condense | None = None,
        node_postprocessors: Sequence[BaseNodePostprocessor] | None = None,
        **synthesizer_options: Unpack[SynthesizerOptions],
    ) -> Self:
        """An engine over ``index.as_retriever(similarity_top_k=...)``."""
        top = {} if similarity_top_k is None else {"similarity_top_k": similarity_top_k}
        return cls(
            index.as_retriever(**top),
            citeformer,
            memory=memory,
            condense=condense,
            node_postprocessors=node_postprocessors,
            **synthesizer_options,
        )

    @property
    def chat_history(self) -> list[ChatMessage]:
        """The conversation so far."""
        return self._memory.get_all()

    def reset(self) -> None:
        """Forget the conversation."""
        self._memory.reset()

    # -- one turn's steps (shared by the sync and async entry points) ---------------------

    def _question(self, message: str, history: Sequence[ChatMessage]) -> str:
        if not isinstance(message, str) or not message.strip():
            raise InvalidOptionError(f"message must be a non-empty question, got {message!r:.60}")
        return self._condense(history, message) if self._condense and history else message

    def _nodes(self, query: str, nodes: list[NodeWithScore]) -> list[NodeWithScore]:
        bundle = QueryBundle(query)
        for postprocessor in self._postprocessors:
            nodes = postprocessor.postprocess_nodes(nodes, query_bundle=bundle)
        return nodes

    def _history(self, given: list[ChatMessage] | None) -> list[ChatMessage]:
        if given is not None:
            self._memory.set(given)
        return self._memory.get()

    @staticmethod
    def _turns(history: Sequence[ChatMessage]) -> list[dict[str, str]]:
        roles = {MessageRole.USER: "user", MessageRole.ASSISTANT: "assistant"}
        return [
            {"role": roles[m.role], "content": m.content or ""} for m in history if m.role in roles
        ]

    def _begin(
        self, message: str, chat_history: list[ChatMessage] | None
    ) -> tuple[str, list[dict[str, str]]]:
        """The retrieval query and the earlier turns: every entry point's first step."""
        history = self._history(chat_history)
        return self._question(message, history), self._turns(history)

    @staticmethod
    def _output(query: str, response: RESPONSE_TYPE) -> ToolOutput:
        # str() of a streaming response drains its stream: a stream's text is not known yet.
        text = str(response) if isinstance(response, Response) else ""
        return ToolOutput(
            tool_name=TOOL_NAME,
            content=text,
            raw_input={"query": query},
            raw_output=response,
        )

    @classmethod
    def _answered(
        cls, message: str, query: str, response: RESPONSE_TYPE
    ) -> tuple[list[ChatMessage], AgentChatResponse]:
        """A whole answer's turn: the messages for the memory, and the chat response."""
        assert isinstance(response, Response)  # the whole-answer synthesizer never streams
        text = str(response)
        reply = AgentChatResponse(
            response=text,
            sources=[cls._output(query, response)],
            source_nodes=list(response.source_nodes),
            metadata=response.metadata,
        )
        return [_user(message), _assistant(text)], reply

    @classmethod
    def _streaming(
        cls,
        query: str,
        response: StreamingResponse | AsyncStreamingResponse,
        chat_stream: Generator[ChatResponse, None, None] | None = None,
        achat_stream: AsyncGenerator[ChatResponse, None] | None = None,
    ) -> StreamingAgentChatResponse:
        """A streamed answer's chat response (its text joins the memory as it is read)."""
        return StreamingAgentChatResponse(
            chat_stream=chat_stream,
            achat_stream=achat_stream,
            sources=[cls._output(query, response)],
            source_nodes=list(response.source_nodes),
        )

    # -- BaseChatEngine -----------------------------------------------------------------

    def chat(
        self, message: str, chat_history: list[ChatMessage] | None = None
    ) -> AgentChatResponse:
        """Answer one turn, citing the nodes retrieved for it."""
        query, turns = self._begin(message, chat_history)
        nodes = self._nodes(query, self._retriever.retrieve(query))
        response = self._whole.synthesize(message, nodes, history=turns)
        exchange, reply = self._answered(message, query, response)
        self._memory.put_messages(exchange)
        return reply

    async def achat(
        self, message: str, chat_history: list[ChatMessage] | None = None
    ) -> AgentChatResponse:
        """:meth:`chat` on citeformer's native async path."""
        query, turns = self._begin(message, chat_history)
        nodes = self._nodes(query, await self._retriever.aretrieve(query))
        response = await self._whole.asynthesize(message, nodes, history=turns)
        exchange, reply = self._answered(message, query, response)
        await self._memory.aput_messages(exchange)
        return reply

    def stream_chat(
        self, message: str, chat_history: list[ChatMessage] | None = None
    ) -> StreamingAgentChatResponse:
        """Stream one turn; the answer joins the memory when the stream ends."""
        query, turns = self._begin(message, chat_history)
        nodes = self._nodes(query, self._retriever.retrieve(query))
        response = self._streamed.synthesize(message, nodes, history=turns)
        assert isinstance(response, StreamingResponse)  # query() of a streaming synthesizer
        self._memory.put(_user(message))
        chat = self._streaming(query, response, chat_stream=_chat_stream(response.response_gen))
        # LlamaIndex's own engines write a sync stream to memory on a thread as it is read.
        writer = threading.Thread(target=chat.write_response_to_history, args=(self._memory,))
        chat.write_response_to_history_thread = writer
        writer.start()
        return chat

    async def astream_chat(
        self, message: str, chat_history: list[ChatMessage] | None = None
    ) -> StreamingAgentChatResponse:
        """Stream one turn on the native async path (no threads)."""
        query, turns = self._begin(message, chat_history)
        nodes = self._nodes(query, await self._retriever.aretrieve(query))
        response = await self._streamed.asynthesize(message, nodes, history=turns)
        assert isinstance(response, AsyncStreamingResponse)  # aquery() of a streaming one
        await self._memory.aput(_user(message))
        tokens = response.async_response_gen()
        chat = self._streaming(query, response, achat_stream=_achat_stream(tokens))
        chat.awrite_response_to_history_task = asyncio.create_task(
            chat.awrite_response_to_history(self._memory)
        )
        return chat


def _user(text: str) -> ChatMessage:
    return ChatMessage(role=MessageRole.USER, content=text)


def _assistant(text: str) -> ChatMessage:
    return ChatMessage(role=MessageRole.ASSISTANT, content=text)


class _Transcript:
    """The streamed answer so far: the step both chat streams share, one token at a time."""

    __slots__ = ("text",)

    def __init__(self) -> None:
        self.text = ""

    def add(self, token: str) -> ChatResponse:
        """The chat response carrying ``token`` (and the whole text up to it)."""
        self.text += token
        return ChatResponse(message=_assistant(self.text), delta=token)


def _chat_stream(tokens: Iterator[str]) -> Generator[ChatResponse, None, None]:
    transcript = _Transcript()
    for token in tokens:
        yield transcript.add(token)


async def _achat_stream(tokens: AsyncIterator[str]) -> AsyncGenerator[ChatResponse, None]:
    transcript = _Transcript()
    async for token in tokens:
        yield transcript.add(token)
