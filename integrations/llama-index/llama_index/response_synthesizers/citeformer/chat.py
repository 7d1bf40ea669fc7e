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
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any

from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.base.llms.types import ChatMessage, ChatResponse, MessageRole
from llama_index.core.base.response.schema import (
    AsyncStreamingResponse,
    Response,
    StreamingResponse,
)
from llama_index.core.chat_engine.types import (
    AgentChatResponse,
    BaseChatEngine,
    StreamingAgentChatResponse,
)
from llama_index.core.memory import ChatMemoryBuffer
from llama_index.core.memory.types import BaseMemory
from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.schema import NodeWithScore, QueryBundle
from llama_index.core.tools import ToolOutput
from llama_index.response_synthesizers.citeformer.base import CiteformerSynthesizer

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
        **synthesizer_options: Any,
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
        cls, index: Any, citeformer: Citeformer | Backend, **kwargs: Any
    ) -> CiteformerChatEngine:
        """An engine over ``index.as_retriever(similarity_top_k=...)``."""
        top_k = kwargs.pop("similarity_top_k", None)
        retriever = index.as_retriever(**({} if top_k is None else {"similarity_top_k": top_k}))
        return cls(retriever, citeformer, **kwargs)

    @property
    def chat_history(self) -> list[ChatMessage]:
        """The conversation so far."""
        return self._memory.get_all()

    def reset(self) -> None:
        """Forget the conversation."""
        self._memory.reset()

    # -- one turn's steps ---------------------------------------------------------------

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

    @staticmethod
    def _output(query: str, response: Any) -> ToolOutput:
        # str() of a streaming response drains its stream: a stream's text is not known yet.
        text = str(response) if isinstance(response, Response) else ""
        return ToolOutput(
            tool_name=TOOL_NAME,
            content=text,
            raw_input={"query": query},
            raw_output=response,
        )

    def _answered(self, query: str, response: Response) -> AgentChatResponse:
        return AgentChatResponse(
            response=str(response),
            sources=[self._output(query, response)],
            source_nodes=list(response.source_nodes),
            metadata=response.metadata,
        )

    def _begin(
        self, message: str, chat_history: list[ChatMessage] | None
    ) -> tuple[str, list[dict[str, str]]]:
        """The retrieval query and the earlier turns: every entry point's first step."""
        history = self._history(chat_history)
        return self._question(message, history), self._turns(history)

    @staticmethod
    def _exchange(message: str, response: Response) -> list[ChatMessage]:
        return [
            ChatMessage(role=MessageRole.USER, content=message),
            ChatMessage(role=MessageRole.ASSISTANT, content=str(response)),
        ]

    # -- BaseChatEngine -----------------------------------------------------------------

    def chat(
        self, message: str, chat_history: list[ChatMessage] | None = None
    ) -> AgentChatResponse:
        """Answer one turn, citing the nodes retrieved for it."""
        query, turns = self._begin(message, chat_history)
        nodes = self._nodes(query, self._retriever.retrieve(query))
        response = self._whole.synthesize(message, nodes, history=turns)
        assert isinstance(response, Response)
        self._memory.put_messages(self._exchange(message, response))
        return self._answered(query, response)

    async def achat(
        self, message: str, chat_history: list[ChatMessage] | None = None
    ) -> AgentChatResponse:
        """:meth:`chat` on citeformer's native async path."""
        query, turns = self._begin(message, chat_history)
        nodes = self._nodes(query, await self._retriever.aretrieve(query))
        response = await self._whole.asynthesize(message, nodes, history=turns)
        assert isinstance(response, Response)
        await self._memory.aput_messages(self._exchange(message, response))
        return self._answered(query, response)

    def stream_chat(
        self, message: str, chat_history: list[ChatMessage] | None = None
    ) -> StreamingAgentChatResponse:
        """Stream one turn; the answer joins the memory when the stream ends."""
        query, turns = self._begin(message, chat_history)
        nodes = self._nodes(query, self._retriever.retrieve(query))
        response = self._streamed.synthesize(message, nodes, history=turns)
        assert isinstance(response, StreamingResponse)
        self._memory.put(ChatMessage(role=MessageRole.USER, content=message))
        chat = StreamingAgentChatResponse(
            chat_stream=_chat_stream(response.response_gen),
            sources=[self._output(query, response)],
            source_nodes=list(response.source_nodes),
        )
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
        assert isinstance(response, AsyncStreamingResponse)
        await self._memory.aput(ChatMessage(role=MessageRole.USER, content=message))
        chat = StreamingAgentChatResponse(
            achat_stream=_achat_stream(response.async_response_gen()),
            sources=[self._output(query, response)],
            source_nodes=list(response.source_nodes),
        )
        chat.awrite_response_to_history_task = asyncio.create_task(
            chat.awrite_response_to_history(self._memory)
        )
        return chat


def _assistant(text: str) -> ChatMessage:
    return ChatMessage(role=MessageRole.ASSISTANT, content=text)


def _chat_stream(tokens: Iterator[str]) -> Iterator[ChatResponse]:
    text = ""
    for token in tokens:
        text += token
        yield ChatResponse(
            message=ChatMessage(role=MessageRole.ASSISTANT, content=text), delta=token
        )


async def _achat_stream(tokens: AsyncIterator[str]) -> AsyncIterator[ChatResponse]:
    text = ""
    async for token in tokens:
        text += token
        yield ChatResponse(
            message=ChatMessage(role=MessageRole.ASSISTANT, content=text), delta=token
        )
