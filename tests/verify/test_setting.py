"""The adapters' ``verify=`` setting, checked in the core."""

from __future__ import annotations

import pytest

from citeformer.errors import InvalidOptionError
from citeformer.verify import FunctionScorer, LexicalScorer
from citeformer.verify.setting import LazyDefault, check_verify, check_verify_options


def test_the_setting_and_its_options() -> None:
    assert check_verify(None) is None and check_verify(False) is None
    assert check_verify(True) is True
    assert isinstance(check_verify(lambda p, c: 1.0), FunctionScorer)
    with pytest.raises(InvalidOptionError, match="verify must be"):
        check_verify("yes")
    assert check_verify_options({"threshold": 0.3}) == {"threshold": 0.3}
    assert check_verify_options(None) == {}
    with pytest.raises(InvalidOptionError, match="verify_options takes"):
        check_verify_options({"treshold": 0.3})


def test_the_default_is_built_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CITEFORMER_NLI_MODEL", raising=False)
    lazy = LazyDefault()
    first = lazy.get()
    assert isinstance(first, LexicalScorer) and lazy.get() is first
