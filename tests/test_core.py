"""Value types: frozen, JSON round trip with schema_version, clear errors."""

from __future__ import annotations

import dataclasses
import json

import pytest

from citeformer import Citeformer, GenerationResult, MockBackend, Source, TokenUsage
from citeformer.core import Enforcement, MarkerStyle, Policy
from citeformer.errors import (
    InvalidOptionError,
    InvalidResultError,
    InvalidSourceError,
    SchemaVersionError,
)


def _result() -> GenerationResult:
    sources = [
        Source("Paris is the capital.", {"title": "France", "URL": "https://example.org/fr"}),
        Source("Rome is the capital.", {"title": "Italy"}),
    ]
    backend = MockBackend("Paris [1] and Rome [2]. Mars [3].", usage=TokenUsage(10, 5, 2))
    return Citeformer(backend).generate("q", sources)


def test_result_round_trips_through_json() -> None:
    result = _result()
    data = json.loads(result.to_json())
    assert data["schema_version"] == GenerationResult.SCHEMA_VERSION == 1
    assert data["enforcement"] == "validated"
    assert data["invalid_markers"][0]["text"] == "[3]"
    back = GenerationResult.from_json(result.to_json())
    assert back == result
    assert GenerationResult.from_dict(result.to_dict()) == result


def test_newer_schema_is_refused_with_advice() -> None:
    data = _result().to_dict()
    data["schema_version"] = 99
    with pytest.raises(SchemaVersionError, match="Upgrade citeformer"):
        GenerationResult.from_dict(data)


def test_values_are_frozen() -> None:
    result = _result()
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.text = "changed"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.citations[0].source_id = 9  # type: ignore[misc]


def test_result_helpers() -> None:
    result = _result()
    assert result.cited_ids == [1, 2]
    assert result.usage is not None and result.usage.total_tokens == 15
    assert result.format().startswith(result.text + "\n\nReferences\n[1]")
    assert result.replace(finish_reason="length").finish_reason == "length"
    with pytest.raises(InvalidResultError, match="the text there is"):
        result.replace(text="x")  # its citations would point at text that is gone


def test_source_checks_its_fields() -> None:
    with pytest.raises(InvalidSourceError, match="content must be str"):
        Source(b"bytes")  # type: ignore[arg-type]
    with pytest.raises(InvalidSourceError, match="CSL-JSON mapping"):
        Source("x", ["title"])  # type: ignore[arg-type]
    assert Source("x", {"title": "T"}).title == "T"
    assert hash(Source("x", {"a": [1]})) == hash(Source("x", {"a": [1]}))


def test_enums_coerce_strings_and_explain_choices() -> None:
    assert Policy.coerce("REQUIRED", what="policy") is Policy.REQUIRED
    assert MarkerStyle.coerce(MarkerStyle.CARET, what="marker style") is MarkerStyle.CARET
    with pytest.raises(InvalidOptionError, match=r"use one of Enforcement\.GRAMMAR"):
        Enforcement.coerce("magic", what="enforcement")
    assert MarkerStyle.CARET.marker([1, 2]) == "^1 ^2"  # never side by side
    assert MarkerStyle.CURLY.marker([1, 2]) == "{1, 2}"
