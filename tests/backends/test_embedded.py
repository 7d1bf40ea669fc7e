"""The embedded model's one-time conversion (the conversion itself runs in test_hf/demo)."""

from __future__ import annotations

from pathlib import Path

import pytest

from citeformer.backends import embedded
from citeformer.errors import ConfigurationError


def test_a_failed_conversion_is_a_typed_error_with_the_childs_output(tmp_path: Path) -> None:
    bogus = tmp_path / "model.gguf"
    bogus.write_bytes(b"not a gguf file")
    with pytest.raises(ConfigurationError, match=r"converting the embedded model model\.gguf"):
        embedded._convert_in_child(bogus, tmp_path / "out")


def test_the_converted_folder_is_per_transformers_major() -> None:
    import transformers

    major = transformers.__version__.split(".")[0]
    assert embedded._folder_name() == f"{embedded.FOLDER_NAME}-transformers{major}"


def test_a_cached_folder_is_reused_without_converting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CITEFORMER_CACHE", str(tmp_path))
    folder = tmp_path / embedded._folder_name()
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (folder / "model.safetensors").write_bytes(b"")

    def fail(*args: object) -> None:
        raise AssertionError("converted although the folder is cached")

    monkeypatch.setattr(embedded, "_convert_in_child", fail)
    assert embedded.smollm2_hf_dir(progress=None) == folder
