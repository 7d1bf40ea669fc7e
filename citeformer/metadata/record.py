"""What a fetcher returns, as cached: CSL metadata, the text to cite from, provenance."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

from citeformer.core import Source
from citeformer.metadata.errors import MetadataWarning


@dataclass(frozen=True, slots=True)
class Fetched:
    """One source's metadata as a fetcher produced it.

    Attributes:
        metadata: CSL-JSON, with the canonical ``id``.
        content: The text the model may cite from (an abstract, extracted text); empty
            when there is none.
        origin: Where it came from (a URL or a path), for provenance.
        extra: Fetcher facts kept beside the metadata (a raw payload hash, a version).
    """

    metadata: dict[str, Any]
    content: str = ""
    origin: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The cached form."""
        return {
            "metadata": self.metadata,
            "content": self.content,
            "origin": self.origin,
            "extra": self.extra,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Fetched | None:
        """A record read back from the cache (None when the row is not one)."""
        metadata = data.get("metadata")
        if not isinstance(metadata, dict):
            return None
        return cls(
            metadata,
            str(data.get("content") or ""),
            str(data.get("origin") or ""),
            dict(data.get("extra") or {}),
        )

    def source(self, *, warn: bool = True) -> Source:
        """As a :class:`~citeformer.Source`; warns when there is no text to cite from."""
        if warn and not self.content.strip():
            warnings.warn(
                f"{self.metadata.get('id', 'a source')} has no text (no abstract or body "
                "was found): the model sees only its title. Pass the document's text as "
                "Source(text, metadata) to let it cite the content",
                MetadataWarning,
                stacklevel=3,
            )
        # The text is the source's content; a copy in the CSL would travel twice.
        metadata = {k: v for k, v in self.metadata.items() if k != "abstract" or not self.content}
        return Source(self.content, metadata)
