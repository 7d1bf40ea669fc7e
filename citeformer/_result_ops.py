"""``result.verify()`` and ``result.render()``: a mixin of :class:`~citeformer.GenerationResult`.

Kept apart from :mod:`citeformer.core` so the value types stay small; each method
delegates to :mod:`citeformer.verify` or :mod:`citeformer.render` (imported on use).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    import os

    from citeformer.core import GenerationResult
    from citeformer.render.answer import RenderedAnswer
    from citeformer.render.bibliography import Numbering, OutputFormat, Renderer
    from citeformer.verify.report import VerificationReport


class ResultOperations:
    """Verification and rendering of a :class:`~citeformer.GenerationResult`."""

    __slots__ = ()

    def _result(self) -> GenerationResult:
        return cast("GenerationResult", self)

    def verify(
        self,
        scorer: Any = None,
        *,
        threshold: float | None = None,
        coverage: bool = True,
        **options: Any,
    ) -> VerificationReport:
        """Check whether each cited source supports its sentence.

        See :func:`citeformer.verify.verify` (the same arguments).
        """
        from citeformer.verify import verify

        return verify(self._result(), scorer, threshold=threshold, coverage=coverage, **options)

    async def averify(
        self,
        scorer: Any = None,
        *,
        threshold: float | None = None,
        coverage: bool = True,
        **options: Any,
    ) -> VerificationReport:
        """Async :meth:`verify` (see :func:`citeformer.verify.averify`)."""
        from citeformer.verify import averify

        return await averify(
            self._result(), scorer, threshold=threshold, coverage=coverage, **options
        )

    def deduplicated(self) -> GenerationResult:
        """The result with runs of adjacent markers collapsed (``[2][1][2]`` to ``[1, 2]``).

        See :func:`citeformer.dedupe.deduplicated`.
        """
        from citeformer.dedupe import deduplicated

        return deduplicated(self._result())

    def rendered(self, format: OutputFormat = "text", **options: Any) -> RenderedAnswer:
        """The answer rendered per style, with offsets of every rendered marker.

        Takes the arguments of :meth:`render`; see
        :func:`citeformer.render.render_answer`.
        """
        from citeformer.render.answer import render_answer

        return render_answer(self._result(), format, **options)

    def render(
        self,
        format: OutputFormat = "text",
        *,
        style: str | os.PathLike[str] | None = None,
        locale: str | None = None,
        numbering: Numbering = "source",
        inline: bool = False,
        renderer: Renderer = "citeproc",
        anchor_prefix: str = "ref-",
    ) -> str:
        """The answer and its bibliography as ``text``, ``markdown`` or ``html``.

        Args:
            format: ``text``, ``markdown`` (markers link to their entries) or ``html``
                (escaped, with anchors).
            style: Any CSL style id, alias or ``.csl`` path; default: the references'.
            locale: A CSL locale; default: the references', else the style's.
            numbering: ``source`` (markers keep the source ids) or ``style`` (the
                style's numbers, markers and list rewritten through one mapping).
            inline: Markers in the style's in-text form (``(Smith, 2020a)``,
                superscripts, footnotes for note styles).
            renderer: ``citeproc`` or ``pandoc`` (extra ``csl-pandoc``).
            anchor_prefix: Prefix of anchor ids in HTML and Markdown.
        """
        return self.rendered(
            format,
            style=style,
            locale=locale,
            numbering=numbering,
            inline=inline,
            renderer=renderer,
            anchor_prefix=anchor_prefix,
        ).text
