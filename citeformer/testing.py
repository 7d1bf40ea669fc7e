"""The Backend contract suite, shipped for out-of-tree backends' own tests.

Subclass :class:`BackendConformance` in a pytest test module (the class name must
start with ``Test`` for pytest to collect it) and implement
:meth:`~BackendConformance.make_backend`::

    from citeformer.testing import BackendConformance


    class TestEchoBackend(BackendConformance):
        options = {"temperature": 0}  # passed to every call the suite makes

        def make_backend(self) -> EchoBackend:
            return EchoBackend()

The suite drives the backend through :class:`~citeformer.Citeformer`, as users do,
with the question :data:`QUESTION` about :data:`SOURCES`, and checks the contract:
the four entry points agree, citation ids stay in range, bad input is refused with a
typed error before the backend runs, per-call facts stay per call, and cancelling an
async stream leaves nothing running.

A backend passes the whole suite. A test that cannot apply is skipped in the open,
with its reason, through :attr:`BackendConformance.skip_tests`; overriding a standard
test (or setting it to ``None``) without listing it there is a ``TypeError`` when the
subclass is defined, so the test module fails to collect instead of passing quietly
with a test missing. Add tests of your own under new names.

This module needs pytest (``pip install 'citeformer[testing]'``); nothing else in
citeformer imports it.
"""

from __future__ import annotations

import asyncio
import difflib
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Final

try:
    import pytest
except ImportError as exc:  # pragma: no cover (pytest is installed wherever tests run)
    from citeformer.errors import MissingDependencyError

    raise MissingDependencyError("citeformer.testing", "testing", package="pytest") from exc

from citeformer import Citeformer, InvalidOptionError, InvalidSourceError, Policy, Source
from citeformer.backends.base import Backend, call_info

__all__ = ["QUESTION", "SOURCES", "BackendConformance"]

SOURCES: Final[list[Source]] = [
    Source("The Eiffel Tower is 330 metres tall and stands in Paris.", {"title": "Eiffel Tower"}),
    Source("The Colosseum in Rome held about 50,000 spectators.", {"title": "Colosseum"}),
    Source("Big Ben is the nickname of the bell in the Elizabeth Tower.", {"title": "Big Ben"}),
]
"""The three sources every call of the suite cites from."""

QUESTION: Final[str] = "How tall is the Eiffel Tower?"
"""The question every call of the suite asks."""

_SUITES: set[type[Any]] = set()
"""Classes whose ``test*`` methods are standard tests (``suite=True``)."""

_SKIPPED: Final[str] = "__citeformer_skipped__"
"""Attribute marking a test installed by :attr:`BackendConformance.skip_tests`."""


class BackendConformance:
    """The contract every backend meets; subclass and implement :meth:`make_backend`.

    Attributes:
        options: Extra call options the suite passes to every call it makes
            (``{"temperature": 0}`` for a sampling model, so the entry points can be
            compared; ``{"max_new_tokens": 24}`` to keep a local model quick).
        skip_tests: Standard tests this backend does not run, each mapped to the
            reason, shown in pytest's report (``{"test_name": "why it cannot apply"}``).
            A listed test is skipped whatever the subclass defines under its name.
            A name the suite does not have, or an empty reason, is a ``TypeError``.

    Extending the suite: a subclass declared with ``suite=True``
    (``class MySuite(BackendConformance, suite=True)``) adds standard tests of its
    own, which its subclasses are held to in the same way.
    """

    options: ClassVar[dict[str, Any]] = {}
    skip_tests: ClassVar[Mapping[str, str]] = {}

    def __init_subclass__(cls, *, suite: bool = False, **kwargs: Any) -> None:
        """Hold the subclass to the standard tests (see :attr:`skip_tests`).

        Args:
            suite: The subclass extends the suite: its own ``test*`` methods become
                standard tests for its subclasses.
            **kwargs: Passed on to ``super().__init_subclass__``.

        Raises:
            TypeError: A standard test is overridden or removed without a listed
                reason, or ``skip_tests`` is malformed.
        """
        super().__init_subclass__(**kwargs)
        if suite:
            _SUITES.add(cls)
        _hold_to_the_suite(cls)

    def make_backend(self) -> Backend:
        """Return the backend under test.

        Called once per test, so a fresh backend per test is the simplest answer;
        returning one shared instance (a loaded model) works too: the suite never
        closes the backends it is given.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement make_backend()")

    @pytest.fixture
    def cf(self) -> Citeformer:
        """A :class:`~citeformer.Citeformer` over :meth:`make_backend`'s backend."""
        # Not closed here: make_backend may hand out a shared backend (a session's
        # engine); the async tests close what belongs to their own event loop.
        return Citeformer(self.make_backend())

    # -- the standard tests ------------------------------------------------------------

    def test_four_entry_points_agree(self, cf: Citeformer) -> None:
        """generate, stream, agenerate and astream give the same text and citations."""
        expected = cf.generate(QUESTION, SOURCES, **self.options)
        stream = cf.stream(QUESTION, SOURCES, **self.options)
        assert "".join(stream) == expected.text
        assert stream.finalize().citations == expected.citations

        async def run() -> tuple[str, Any, str, Any]:
            a = await cf.agenerate(QUESTION, SOURCES, **self.options)
            s = cf.astream(QUESTION, SOURCES, **self.options)
            text = "".join([c async for c in s])
            final = await s.finalize()
            await cf.aclose()  # the async client belongs to this asyncio.run loop
            return a.text, a.citations, text, final.citations

        a_text, a_cites, s_text, s_cites = asyncio.run(run())
        assert a_text == s_text == expected.text
        assert a_cites == s_cites == expected.citations

    def test_citations_point_at_supplied_sources(self, cf: Citeformer) -> None:
        """Every citation's id is a 1-based position in the sources, at its marker."""
        result = cf.generate(QUESTION, SOURCES, **self.options)
        assert all(1 <= c.source_id <= len(SOURCES) for c in result.citations)
        for c in result.citations:
            assert result.text[c.start : c.end] == c.marker

    def test_empty_sources_rejected_before_the_backend_runs(self, cf: Citeformer) -> None:
        """No sources is an :class:`~citeformer.InvalidSourceError`."""
        with pytest.raises(InvalidSourceError):
            cf.generate(QUESTION, [], **self.options)

    def test_invalid_options_rejected_before_the_backend_runs(self, cf: Citeformer) -> None:
        """An option of the wrong value is an :class:`~citeformer.InvalidOptionError`."""
        bad = {**self.options, "temperature": -1.0}

        async def run() -> None:
            with pytest.raises(InvalidOptionError, match="temperature"):
                await cf.agenerate(QUESTION, SOURCES, **bad)
            await cf.aclose()

        with pytest.raises(InvalidOptionError, match="temperature"):
            cf.generate(QUESTION, SOURCES, **bad)
        with pytest.raises(InvalidOptionError, match="temperature"):
            list(cf.stream(QUESTION, SOURCES, **bad))
        asyncio.run(run())

    def test_backend_output_is_a_str_with_per_call_info(self) -> None:
        """The backend answers a ``str`` whose call facts belong to that call alone."""
        backend = self.make_backend()
        out = backend.generate(QUESTION, SOURCES, Policy.AUTO, **self.options)
        assert isinstance(out, str)
        assert call_info(out) is not call_info(backend.generate(QUESTION, SOURCES, Policy.AUTO))

    def test_cancelled_astream_leaves_no_pending_tasks(self, cf: Citeformer) -> None:
        """Cancelling a task consuming ``astream`` leaves no task of the backend behind."""

        async def run() -> set[asyncio.Task[Any]]:
            async def consume() -> None:
                async for _ in cf.astream(QUESTION, SOURCES, **self.options):
                    await asyncio.sleep(0)

            task = asyncio.create_task(consume())
            await asyncio.sleep(0)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await asyncio.sleep(0.05)
            pending = asyncio.all_tasks() - {asyncio.current_task()}
            await cf.aclose()
            return pending

        assert asyncio.run(run()) == set()


_SUITES.add(BackendConformance)


def _standard_tests(cls: type[Any]) -> dict[str, tuple[type[Any], Any]]:
    """The standard tests ``cls`` must run: name -> (the suite defining it, the test)."""
    found: dict[str, tuple[type[Any], Any]] = {}
    for klass in reversed(cls.__mro__):
        if klass not in _SUITES:
            continue
        for name, value in vars(klass).items():
            if name.startswith("test") and name not in found:
                found[name] = (klass, value)
    return found


def _defined(cls: type[Any], name: str) -> Any:
    """What ``cls`` has under ``name``, as stored (the first class in the MRO having it)."""
    for klass in cls.__mro__:
        if name in vars(klass):
            return vars(klass)[name]
    return None  # pragma: no cover (only called for names some suite defines)


def _skipped_test(cls: type[Any], name: str, reason: str) -> Callable[..., None]:
    """A test that skips with ``reason``, standing in for the standard test ``name``."""

    def skipped(self: object) -> None:
        pytest.skip(reason)

    skipped.__name__ = name
    skipped.__qualname__ = f"{cls.__qualname__}.{name}"
    skipped.__doc__ = f"Skipped through skip_tests: {reason}"
    setattr(skipped, _SKIPPED, reason)
    marked: Callable[..., None] = pytest.mark.skip(reason=reason)(skipped)
    return marked


def _hold_to_the_suite(cls: type[Any]) -> None:
    """Check ``cls`` against its standard tests and install its listed skips."""
    standard = _standard_tests(cls)
    skips = cls.skip_tests
    if not isinstance(skips, Mapping):
        raise TypeError(
            f"{cls.__qualname__}.skip_tests must be a mapping from test name to the reason "
            f"it is skipped, got {type(skips).__name__}"
        )
    for name, reason in skips.items():
        if name not in standard:
            close = difflib.get_close_matches(str(name), standard, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise TypeError(
                f"{cls.__qualname__}.skip_tests names {name!r}, which is not a standard "
                f"test{hint}; the standard tests are: {', '.join(sorted(standard))}"
            )
        if not isinstance(reason, str) or not reason.strip():
            raise TypeError(
                f"{cls.__qualname__}.skip_tests[{name!r}] must be a non-empty reason (a str "
                f"saying why this backend cannot run {name}), got {reason!r}"
            )
    for name, (suite, test) in standard.items():
        if name in skips:
            setattr(cls, name, _skipped_test(cls, name, skips[name]))
            continue
        current = _defined(cls, name)
        if current is test:
            continue
        if hasattr(current, _SKIPPED):
            setattr(cls, name, test)  # skipped by a parent's skip_tests, not by this class's
            continue
        how = "removes" if current is None else "overrides"
        raise TypeError(
            f"{cls.__qualname__} {how} the standard test {name} of {suite.__qualname__} "
            f"without a reason. A backend runs the whole suite: delete the override (add "
            f"your own tests under new names), or skip it in the open with "
            f"skip_tests = {{{name!r}: 'why this backend cannot run it'}}."
        )
