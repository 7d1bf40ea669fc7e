"""langchain-citeformer: citeformer as a LangChain Runnable.

``CiteformerRunnable`` answers a question from documents; its citation markers can
only point at those documents, and its output carries LangChain's standard
``Citation`` annotations.
"""

from langchain_citeformer.documents import MetadataMapper, csl_metadata
from langchain_citeformer.inputs import CiteformerInput
from langchain_citeformer.messages import citation_annotation, generation_result
from langchain_citeformer.outputs import OutputMode
from langchain_citeformer.runnable import CiteformerRunnable
from langchain_citeformer.tracing import CITATION_EVENT, MARKER_REMOVED_EVENT

__version__ = "0.4.0"

__all__ = [
    "CITATION_EVENT",
    "MARKER_REMOVED_EVENT",
    "CiteformerInput",
    "CiteformerRunnable",
    "MetadataMapper",
    "OutputMode",
    "__version__",
    "citation_annotation",
    "csl_metadata",
    "generation_result",
]
