"""LlamaIndex response synthesizer whose citation markers can only point at retrieved nodes.

>>> from llama_index.response_synthesizers.citeformer import (
...     CiteformerSynthesizer, citation_query_engine)
"""

from llama_index.response_synthesizers.citeformer.base import CiteformerSynthesizer
from llama_index.response_synthesizers.citeformer.chat import CiteformerChatEngine
from llama_index.response_synthesizers.citeformer.chunking import CitationChunker
from llama_index.response_synthesizers.citeformer.embeddings import HashingEmbedding
from llama_index.response_synthesizers.citeformer.engine import citation_query_engine
from llama_index.response_synthesizers.citeformer.events import (
    CitationResolvedEvent,
    CitationValidationEvent,
    CitationVerificationEvent,
)
from llama_index.response_synthesizers.citeformer.nodes import (
    default_node_to_csl,
    nodes_to_sources,
)
from llama_index.response_synthesizers.citeformer.results import (
    NodeCitation,
    citations,
    cited_source_nodes,
    generation_result,
    verification_report,
)
from llama_index.response_synthesizers.citeformer.streaming import (
    NodeCitationEvent,
    NodeStreamEvent,
    stream_events,
)

__version__ = "0.4.0"

__all__ = [
    "CitationChunker",
    "CitationResolvedEvent",
    "CitationValidationEvent",
    "CitationVerificationEvent",
    "CiteformerChatEngine",
    "CiteformerSynthesizer",
    "HashingEmbedding",
    "NodeCitation",
    "NodeCitationEvent",
    "NodeStreamEvent",
    "__version__",
    "citation_query_engine",
    "citations",
    "cited_source_nodes",
    "default_node_to_csl",
    "generation_result",
    "nodes_to_sources",
    "stream_events",
    "verification_report",
]
