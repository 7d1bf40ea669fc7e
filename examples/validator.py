"""The validator at work: a scripted answer with a fabricated marker ([7]).

Hosted models and out-of-tree backends cannot always be constrained while they
decode; whatever they return passes this validator, which removes markers that
point at no supplied source and says where they were.
"""

from __future__ import annotations

import json
from pathlib import Path

from citeformer import Citeformer, MockBackend, Source

HERE = Path(__file__).parent


def load_sources() -> list[Source]:
    data = json.loads((HERE / "sources.json").read_text(encoding="utf-8"))
    return [Source(item["content"], item["metadata"]) for item in data]


def main() -> None:
    sources = load_sources()
    backend = MockBackend(
        "The Eiffel Tower was built by Gustave Eiffel's company for the 1889 World's Fair [1, 3]. "
        "At 330 metres it stayed the tallest man-made structure until the Chrysler Building "
        "was completed in 1930 [1, 2]. It is also the most visited monument on Earth [7]."
    )
    cf = Citeformer(backend, style="ieee")
    result = cf.generate("Who built the Eiffel Tower, and how long was it the tallest?", sources)
    print(result.text)
    print("\nReferences")
    for reference in result.references:
        print(reference.text)
    print(f"\nEnforcement: {result.enforcement.value}")
    for marker in result.invalid_markers:
        print(f"Removed {marker.text} at {marker.start}: {marker.reason}")


if __name__ == "__main__":
    main()
