"""Canonical JSON for metadata: the stable text that caches and hashes key on."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Final

_MAX_DEPTH: Final = 16


def canonical_json(metadata: Mapping[str, object]) -> str:
    """A stable JSON text for ``metadata``: sorted keys, compact, deterministic."""
    try:
        return json.dumps(
            metadata, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=_default
        )
    except (TypeError, ValueError):  # keys of mixed types, cycles
        return json.dumps(
            _jsonable(metadata, 0), sort_keys=True, ensure_ascii=False, separators=(",", ":")
        )


def _default(value: object) -> object:
    if isinstance(value, set | frozenset):
        return sorted(str(v) for v in value)
    return str(value)


def _jsonable(value: object, depth: int) -> object:
    if depth > _MAX_DEPTH:
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v, depth + 1) for v in value]
    if value is None or isinstance(value, str | int | float):
        return value
    return _default(value)
