"""Turn what callers pass as ``sources`` into a list of :class:`~citeformer.core.Source`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from citeformer.core import Source
from citeformer.errors import InvalidSourceError


def coerce_sources(sources: object) -> list[Source]:
    """Accept a non-empty sequence of ``Source`` or ``str``; say what is wrong otherwise."""
    if isinstance(sources, (str, bytes)) or not isinstance(sources, Sequence):
        raise InvalidSourceError(
            f"sources must be a list of Source (or str), got {type(sources).__name__}; "
            "wrap a single document as [Source(text)]"
        )
    if not sources:
        raise InvalidSourceError(
            "sources is empty: citeformer needs at least one source to cite; "
            "retrieve documents first, or call the model without citeformer"
        )
    if all(type(source) is Source for source in sources):
        return list(sources)
    out: list[Source] = []
    for i, source in enumerate(sources):
        if isinstance(source, Source):
            out.append(source)
        elif isinstance(source, str):
            out.append(Source(source))
        else:
            raise InvalidSourceError(
                f"sources[{i}] is a {type(source).__name__}; "
                f"pass Source(content, metadata) or a str{_converter_hint(source)}"
            )
    return out


# Framework objects people pass by mistake, by module prefix: the converter to use.
_CONVERTERS: Final = (
    ("langchain", "LangChain Documents: langchain_citeformer.documents_to_sources(docs)"),
    ("llama_index", "LlamaIndex nodes: llama_index.response_synthesizers.citeformer"
                    ".nodes_to_sources(nodes)"),
)  # fmt: skip


def _converter_hint(value: object) -> str:
    module = type(value).__module__
    for prefix, hint in _CONVERTERS:
        if module.split(".")[0].startswith(prefix):
            return f" (for {hint})"
    return ""
