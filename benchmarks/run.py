"""Run every benchmark and print its table (``make bench``)."""

from __future__ import annotations

import platform
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import core_overhead, grammar_build

SECTIONS = [core_overhead, grammar_build]


def main() -> None:
    print(f"citeformer benchmarks — Python {platform.python_version()}, {platform.machine()}\n")
    for section in SECTIONS:
        print(section.run(), flush=True)


if __name__ == "__main__":
    main()
