"""What :class:`~langchain_citeformer.CiteformerRunnable` is built from, typed.

The constructors' keyword arguments as ``TypedDict`` s (so ``mypy --strict`` checks a
user's ``CiteformerRunnable(backend=..., policy=...)``), and the one place that turns
them into the runnable's fields.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from citeformer import Citeformer, InvalidOptionError, MarkerStyle, Policy
from citeformer.backends.base import Backend
from citeformer.splitting import check_chunking
from citeformer.verify import Scorer
from langchain_core.messages import BaseMessage
from langchain_core.prompt_values import PromptValue
from langchain_core.retrievers import BaseRetriever
from typing_extensions import TypedDict

from langchain_citeformer.documents import MetadataMapper
from langchain_citeformer.inputs import CiteformerInput

RunnableInput = CiteformerInput | str | list[BaseMessage] | PromptValue
"""What the runnable reads: a dict, a question string, or a conversation."""
VerifySetting = Scorer | Callable[[str, str], float] | bool | None
"""``verify=``: a scorer, a ``(premise, hypothesis) -> float`` callable, True or off."""


class CiteformerSettings(TypedDict, total=False):
    """Keyword arguments of every constructor.

    The runnable's fields, and the settings of a Citeformer built from ``backend=``.
    """

    style: str
    citation_policy: Policy | str
    marker_style: MarkerStyle | str
    policy: Policy | str | None
    strict: bool | None
    options: Mapping[str, Any]
    metadata_mapper: MetadataMapper | None
    verify: VerifySetting
    verify_options: Mapping[str, Any]
    chunk_size: int | None
    chunk_overlap: int
    name: str | None


class RetrieverSettings(CiteformerSettings, total=False):
    """:class:`CiteformerSettings` and a retriever."""

    retriever: BaseRetriever | None


class RunnableSettings(RetrieverSettings, total=False):
    """The constructor's keyword arguments besides ``citeformer`` and ``output``."""

    backend: Backend


_CITEFORMER_SETTINGS = ("style", "citation_policy", "marker_style")


def runnable_fields(
    citeformer: Citeformer | None, output: str, settings: dict[str, Any]
) -> dict[str, Any]:
    """The runnable's fields: a Citeformer built from ``backend=`` where one is given.

    Raises:
        InvalidOptionError: Both or neither of ``citeformer`` and ``backend``,
            Citeformer settings without a backend, or a bad chunking.
    """
    backend = settings.pop("backend", None)
    built = {key: settings.pop(key) for key in _CITEFORMER_SETTINGS if key in settings}
    if backend is not None:
        if citeformer is not None:
            raise InvalidOptionError("pass either citeformer= or backend=, not both")
        citeformer = Citeformer(backend, **built)
    elif built:
        raise InvalidOptionError(
            f"{', '.join(built)} configure a new Citeformer: pass them with backend=, "
            "or set them on the Citeformer you pass"
        )
    if citeformer is None:
        raise InvalidOptionError(
            "CiteformerRunnable needs a Citeformer or a backend: "
            "CiteformerRunnable(backend=OpenAIBackend(...)) or CiteformerRunnable(cf)"
        )
    fields: dict[str, Any] = {"citeformer": citeformer, "output": output, **settings}
    if fields.get("chunk_size") is not None or fields.get("chunk_overlap", 0) != 0:
        check_chunking(fields.get("chunk_size"), fields.get("chunk_overlap", 0))
    return fields
