"""Where the project's shared test data lives (``../shared`` beside the checkout).

The recorded wire samples and the CSL test suite are read from there, never copied
into the repository. A clean clone elsewhere (CI clones main into a scratch folder)
finds them through the folder it was cloned from. ``CITEFORMER_SHARED_DIR`` names the
folder explicitly.
"""

from __future__ import annotations

import functools
import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@functools.cache
def shared_dir() -> Path | None:
    """The shared folder, or None when none of the places holds one."""
    candidates: list[Path] = []
    configured = os.environ.get("CITEFORMER_SHARED_DIR", "").strip()
    if configured:
        candidates.append(Path(configured).expanduser())
    candidates += [parent / "shared" for parent in ROOT.parents]
    origin = _origin()
    if origin is not None:
        candidates += [parent / "shared" for parent in origin.parents]
    return next((c for c in candidates if (c / "wire").is_dir()), None)


def wire_dir() -> Path:
    """``shared/wire`` (a path that does not exist when the data is missing)."""
    shared = shared_dir()
    return shared / "wire" if shared is not None else ROOT.parent / "shared" / "wire"


def _origin() -> Path | None:
    """The local folder this checkout was cloned from, if it was cloned from one."""
    try:
        url = subprocess.run(
            ["git", "-C", str(ROOT), "config", "--get", "remote.origin.url"],
            capture_output=True, text=True, timeout=10, check=False,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    url = url.removeprefix("file://")
    path = Path(url) if url else None
    return path.resolve() if path is not None and path.is_dir() else None


def csl_suite_dir() -> Path:
    """``shared/csl-test-suite`` (a path that does not exist when the suite is missing).

    The fixtures are under its ``humans/`` folder (see ``../shared/csl-test-suite/README.md``).
    """
    shared = shared_dir()
    return (shared if shared is not None else ROOT.parent / "shared") / "csl-test-suite"
