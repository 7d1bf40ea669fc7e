"""Every citeformer error survives pickling (multiprocessing, task queues) and copying.

The classes are discovered from ``citeformer.errors`` and built from their
constructors' signatures, so a class added later is covered without editing this
file; a parameter this module cannot invent a value for fails with its name.
"""

from __future__ import annotations

import copy
import enum
import inspect
import pickle
import sys
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import MISSING, dataclass, fields, is_dataclass
from typing import Any

import pytest

import citeformer
import citeformer.errors
from citeformer.core import InvalidMarker
from citeformer.errors import (
    BackendError,
    CiteformerError,
    GenerationError,
    InvalidCitationError,
    MissingDependencyError,
    RateLimitError,
    StreamInterruptedError,
)

SAMPLES: dict[str, object] = {
    "message": "it broke",
    "provider": "openai",
    "status": 503,
    "retryable": True,
    "request_id": "req_123",
    "retry_after": 2.5,
    "partial_text": "The tower [1]",
    "raw_text": "The tower [1] is",
    "text": "raw [9] text",
    "invalid_markers": [InvalidMarker("[9]", 4, 7, "out_of_range")],
    "feature": "OpenAIBackend",
    "extra": "openai",
    "package": "jiter",
    "start": 4,
    "end": 7,
}
"""Values by parameter name; other parameters get one built from their annotation."""

ERROR_CLASSES = sorted(
    (
        cls
        for _, cls in inspect.getmembers(citeformer.errors, inspect.isclass)
        if issubclass(cls, BaseException) and cls.__module__ == citeformer.errors.__name__
    ),
    key=lambda cls: cls.__name__,
)


def _namespace() -> dict[str, Any]:
    """Names annotations may use: everything the loaded citeformer modules define."""
    names: dict[str, Any] = {}
    for name, module in list(sys.modules.items()):
        if module is not None and (name == "citeformer" or name.startswith("citeformer.")):
            names.update(vars(module))
    names.update(vars(typing))
    return names


def _sample(hint: Any, where: str) -> Any:
    """A value of type ``hint`` (a parameter's or a dataclass field's annotation)."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if hint is Any or hint is object or hint is str:
        return "sample"
    if hint is bool:
        return True
    if hint is int:
        return 7
    if hint is float:
        return 1.5
    if origin is typing.Literal:
        return args[0]
    if origin in (typing.Union, types.UnionType):
        return _sample(next(a for a in args if a is not type(None)), where)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return next(iter(hint))
    if isinstance(hint, type) and is_dataclass(hint):
        hints = typing.get_type_hints(hint, localns=_namespace())
        return hint(
            **{
                f.name: SAMPLES[f.name]
                if f.name in SAMPLES
                else _sample(hints[f.name], f"{where}.{f.name}")
                for f in fields(hint)
                if f.init and f.default is MISSING and f.default_factory is MISSING
            }
        )
    if origin is tuple:
        return tuple(_sample(a, where) for a in args if a is not Ellipsis)
    if isinstance(origin, type) and issubclass(origin, Mapping):
        return {_sample(args[0], where): _sample(args[1], where)} if args else {}
    if isinstance(origin, type) and issubclass(origin, Sequence):
        return [_sample(args[0], where)] if args else []
    pytest.fail(f"no sample value for {where}: {hint!r}; add one to SAMPLES in {__name__}")


def build(cls: type[BaseException]) -> BaseException:
    """An instance of ``cls`` with every constructor parameter given a non-default value."""
    try:
        signature = inspect.signature(cls)
    except ValueError:  # the built-in Exception(*args) constructor
        return cls(SAMPLES["message"])
    hints = typing.get_type_hints(cls.__init__, localns=_namespace())
    positional: list[Any] = []
    keywords: dict[str, Any] = {}
    for name, parameter in signature.parameters.items():
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            if parameter.kind is parameter.VAR_POSITIONAL and not positional:
                positional.append(SAMPLES["message"])  # Exception(*args)
            continue
        value = SAMPLES[name] if name in SAMPLES else _sample(hints.get(name, Any), name)
        if parameter.kind is parameter.KEYWORD_ONLY:
            keywords[name] = value
        else:
            positional.append(value)
    return cls(*positional, **keywords)


def same(restored: BaseException, original: BaseException) -> None:
    assert type(restored) is type(original)
    assert restored.args == original.args
    assert str(restored) == str(original)
    assert repr(restored) == repr(original)
    assert vars(restored) == vars(original)


def test_discovery_finds_the_whole_tree() -> None:
    names = {cls.__name__ for cls in ERROR_CLASSES}
    assert {"CiteformerError", "BackendError", "StreamInterruptedError"} <= names
    assert {"InvalidCitationError", "MissingDependencyError", "RateLimitError"} <= names
    assert all(issubclass(cls, CiteformerError) for cls in ERROR_CLASSES)
    assert len(ERROR_CLASSES) >= 16


@pytest.mark.parametrize("cls", ERROR_CLASSES, ids=lambda cls: cls.__name__)
@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_every_error_round_trips_through_pickle(cls: type[BaseException], protocol: int) -> None:
    error = build(cls)
    error.add_note("a note travels too")
    same(pickle.loads(pickle.dumps(error, protocol=protocol)), error)


@pytest.mark.parametrize("cls", ERROR_CLASSES, ids=lambda cls: cls.__name__)
def test_every_error_copies(cls: type[BaseException]) -> None:
    error = build(cls)
    same(copy.copy(error), error)
    same(copy.deepcopy(error), error)


def test_attributes_come_back_with_their_values() -> None:
    error = pickle.loads(
        pickle.dumps(
            RateLimitError(
                "slow down",
                provider="anthropic",
                status=429,
                retryable=True,
                request_id="req_1",
                retry_after=3.0,
            )
        )
    )
    assert isinstance(error, RateLimitError)
    assert (error.provider, error.status, error.retryable) == ("anthropic", 429, True)
    assert (error.request_id, error.retry_after) == ("req_1", 3.0)
    assert str(error) == "anthropic: slow down; status 429; request id req_1"

    interrupted = pickle.loads(
        pickle.dumps(StreamInterruptedError("cut", partial_text="The [1]", raw_text="The [1"))
    )
    assert (interrupted.partial_text, interrupted.raw_text) == ("The [1]", "The [1")

    marker = InvalidMarker("[9]", 3, 6, "out_of_range")
    invalid = pickle.loads(pickle.dumps(InvalidCitationError([marker], "It [9].")))
    assert invalid.invalid_markers == (marker,) and invalid.text == "It [9]."
    assert "Pass strict=False" in str(invalid)

    missing = pickle.loads(pickle.dumps(MissingDependencyError("X", "openai", package="jiter")))
    assert isinstance(missing, MissingDependencyError) and isinstance(missing, ImportError)
    assert missing.extra == "openai"
    assert str(missing) == "X needs the 'openai' extra (jiter): pip install 'citeformer[openai]'"


def test_the_common_exports_are_the_same_classes() -> None:
    for name in ("BackendError", "StreamInterruptedError", "InvalidCitationError"):
        exported = getattr(citeformer, name, None)
        if exported is not None:
            assert exported is getattr(citeformer.errors, name)


# A subclass shaped like a later addition: positional (violations, text) computed into
# the message, with a tuple of frozen dataclasses as an attribute. It needs no pickling
# code of its own.


@dataclass(frozen=True)
class Violation:
    rule: str
    sentence: int


class PolicyViolationError(GenerationError):
    def __init__(self, violations: Sequence[Violation], text: str) -> None:
        self.violations = tuple(violations)
        self.text = text
        listed = ", ".join(f"{v.rule} in sentence {v.sentence}" for v in self.violations)
        super().__init__(f"{len(self.violations)} violation(s): {listed}")


class KeywordOnlyError(BackendError):
    def __init__(self, *, provider: str, shard: int) -> None:
        super().__init__(f"shard {shard} failed", provider=provider, retryable=True)
        self.shard = shard


@pytest.mark.parametrize(
    "error",
    [
        PolicyViolationError([Violation("required", 2), Violation("uncited", 3)], "A. B. C."),
        KeywordOnlyError(provider="openai", shard=4),
    ],
    ids=type,
)
def test_a_new_subclass_pickles_without_code_of_its_own(error: BaseException) -> None:
    restored = pickle.loads(pickle.dumps(error))
    same(restored, error)
    assert vars(restored)


def test_the_cause_is_not_pickled_but_the_error_is() -> None:
    class Unpicklable(Exception):
        def __reduce__(self) -> Any:
            raise TypeError("an SDK exception holding an open HTTP response")

    try:
        try:
            raise Unpicklable("401")
        except Unpicklable as sdk:
            raise BackendError("rejected", provider="openai", status=401) from sdk
    except BackendError as caught:
        error = caught
    assert isinstance(error.__cause__, Unpicklable)
    restored = pickle.loads(pickle.dumps(error))
    assert restored.__cause__ is None and str(restored) == str(error)
