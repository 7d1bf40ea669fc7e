"""langchain-citeformer: citeformer as a LangChain Runnable.

``CiteformerRunnable`` answers a question from documents; its citation markers can
only point at those documents, and its output carries LangChain's standard
``Citation`` annotations. With ``verify=`` each answer is also checked against its
sources (:func:`verification_report` reads the report back).
"""

from langchain_citeformer.documents import MetadataMapper, csl_metadata, documents_to_sources
from langchain_citeformer.inputs import CiteformerInput
from langchain_citeformer.messages import citation_annotation, generation_result
from langchain_citeformer.outputs import OutputMode
from langchain_citeformer.runnable import CiteformerRunnable
from langchain_citeformer.tool import CitedQuestion, citeformer_tool
from langchain_citeformer.tracing import CITATION_EVENT, MARKER_REMOVED_EVENT, VERIFICATION_EVENT
from langchain_citeformer.verification import VERIFICATION_KEY, verification_report

__version__ = "0.4.0"

__all__ = [
    "CITATION_EVENT",
    "MARKER_REMOVED_EVENT",
    "VERIFICATION_EVENT",
    "VERIFICATION_KEY",
    "CitedQuestion",
    "CiteformerInput",
    "CiteformerRunnable",
    "MetadataMapper",
    "OutputMode",
    "__version__",
    "citation_annotation",
    "citeformer_tool",
    "csl_metadata",
    "documents_to_sources",
    "generation_result",
    "verification_report",
]
