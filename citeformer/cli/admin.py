"""``styles`` and ``cache``: what is installed, and the metadata cache on disk."""

from __future__ import annotations

import json

from citeformer.cli.console import out
from citeformer.cli.exits import Exit


def run_styles(search: str | None, citation_format: str | None, as_json: bool = False) -> int:
    """Print the installed styles, one per line: ``id<TAB>format<TAB>title``."""
    from citeformer.render.catalog import available_styles, style_infos

    wanted = set(available_styles(search=search)) if search else None
    infos = [
        info
        for info in style_infos(citation_format=citation_format)  # type: ignore[arg-type]
        if wanted is None or info.id in wanted
    ]
    if as_json:
        rows = [
            {"id": i.id, "format": i.citation_format, "title": i.title, "parent": i.parent}
            for i in infos
        ]
        out(json.dumps(rows, ensure_ascii=False, indent=2))
    else:
        out("".join(f"{i.id}\t{i.citation_format}\t{i.title}\n" for i in infos), end="")
    return Exit.OK


def run_cache_info() -> int:
    """Print the cache file's path, record count and size."""
    from citeformer.metadata.cache import default_cache

    cache = default_cache()
    size = cache.path.stat().st_size if cache.path.exists() else 0
    out(f"path\t{cache.path}\nrecords\t{cache.count()}\nbytes\t{size}")
    return Exit.OK


def run_cache_clear() -> int:
    """Remove every record; print how many went."""
    from citeformer.metadata.cache import default_cache

    cache = default_cache()
    removed = cache.clear() if cache.path.exists() else 0
    out(f"removed {removed} record(s) from {cache.path}")
    return Exit.OK
