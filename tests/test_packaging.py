"""The three distributions agree on their version, and the adapters on the core's line."""

from __future__ import annotations

import importlib.metadata
import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

import citeformer

ROOT = Path(__file__).resolve().parent.parent
ADAPTERS = {
    "langchain-citeformer": ROOT / "integrations" / "langchain",
    "llama-index-response-synthesizers-citeformer": ROOT / "integrations" / "llama-index",
}


def project(folder: Path) -> dict[str, object]:
    data = tomllib.loads((folder / "pyproject.toml").read_text())
    table: dict[str, object] = data["project"]
    return table


def core_requirement(folder: Path) -> Requirement:
    dependencies = project(folder)["dependencies"]
    assert isinstance(dependencies, list)
    (found,) = [Requirement(d) for d in dependencies if Requirement(d).name == "citeformer"]
    return found


def test_every_distribution_has_the_core_version() -> None:
    version = project(ROOT)["version"]
    assert version == citeformer.__version__ == importlib.metadata.version("citeformer")
    assert Version(str(version)) >= Version("0.4")  # the successor of the 0.3 line
    for name, folder in ADAPTERS.items():
        assert project(folder)["name"] == name
        assert project(folder)["version"] == version, name
        assert importlib.metadata.version(name) == version, f"reinstall {name}"


def test_adapters_require_exactly_the_core_minor_line() -> None:
    core = Version(str(project(ROOT)["version"]))
    line = SpecifierSet(f">={core.major}.{core.minor},<{core.major}.{core.minor + 1}")
    for name, folder in ADAPTERS.items():
        requirement = core_requirement(folder)
        assert requirement.specifier == line, (name, str(requirement.specifier))
        # No release of the older, unrelated `citeformer` line can satisfy it.
        assert not any(requirement.specifier.contains(v) for v in ("0.1.0", "0.3.1", "0.5.0"))
        assert requirement.specifier.contains(str(core))


def test_adapter_versions_are_exported() -> None:
    import langchain_citeformer
    from llama_index.response_synthesizers import citeformer as llama_citeformer

    assert langchain_citeformer.__version__ == citeformer.__version__
    assert llama_citeformer.__version__ == citeformer.__version__


def test_published_ranges_carry_no_environment_pins() -> None:
    """Environment traps live in locks/, never in a published range."""
    langchain = project(ADAPTERS["langchain-citeformer"])["dependencies"]
    assert isinstance(langchain, list)
    (core,) = [Requirement(d) for d in langchain if Requirement(d).name == "langchain-core"]
    assert core.specifier == SpecifierSet(">=1.7,<2")


def test_locks_pin_every_package_with_hashes() -> None:
    for lock in sorted((ROOT / "locks").glob("*.txt")):
        entries = re.findall(r"^([A-Za-z0-9_.\-\[\]]+)(==)?([^ \\\n]*)", lock.read_text(), re.M)
        assert entries, lock
        for name, pinned, _ in entries:
            assert pinned, f"{lock.name}: {name} is not pinned"
        names = {name.lower() for name, _, _ in entries}
        # Installed beside the locks (torch) or never on CPU (triton, CUDA libraries).
        assert not names & {"torch", "triton", "citeformer"}, lock.name
        assert not any(n.startswith(("nvidia-", "cuda-")) for n in names), lock.name
        assert lock.read_text().count("--hash=sha256:") >= len(entries)


def test_the_makefile_bootstraps_the_locked_uv() -> None:
    makefile = (ROOT / "Makefile").read_text()
    (uv_version,) = re.findall(r"^UV_VERSION := (\S+)$", makefile, re.M)
    assert f"\nuv=={uv_version} " in (ROOT / "locks" / "main.txt").read_text()
