"""Every failure's exit status and one-line message (logic only, no process)."""

from __future__ import annotations

import pytest

from citeformer import errors
from citeformer.cli import _bare_verify
from citeformer.cli.exits import Exit, bad_input, exit_code, one_line, usage
from citeformer.metadata import errors as metadata


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (usage("x"), Exit.USAGE),
        (bad_input("x"), Exit.BAD_INPUT),
        (errors.InvalidCitationError([], "text"), Exit.CHECK_FAILED),
        (errors.ConfigurationError("set OPENAI_API_KEY"), Exit.USAGE),
        (errors.MissingDependencyError("x", "hf"), Exit.USAGE),
        (errors.InvalidOptionError("bad"), Exit.USAGE),
        (errors.BackendError("503", provider="openai"), Exit.UNAVAILABLE),
        (errors.RateLimitError("429", provider="openai"), Exit.UNAVAILABLE),
        (errors.InvalidResultError("damaged"), Exit.BAD_INPUT),
        (errors.SchemaVersionError("newer"), Exit.BAD_INPUT),
        (errors.InvalidSourceError("empty"), Exit.BAD_INPUT),
        (metadata.MetadataOfflineError("miss"), Exit.UNAVAILABLE),
        (metadata.MetadataUnavailableError("down"), Exit.UNAVAILABLE),
        (metadata.MetadataNotFoundError("404"), Exit.BAD_INPUT),
        (metadata.MetadataParseError("bad bib"), Exit.BAD_INPUT),
        (metadata.UnrecognizedIdentifierError("what"), Exit.BAD_INPUT),
        (FileNotFoundError(2, "No such file or directory", "a.bib"), Exit.BAD_INPUT),
        (RuntimeError("?"), Exit.UNAVAILABLE),
    ],
)
def test_exit_codes(error: Exception, code: Exit) -> None:
    assert exit_code(error) == code


def test_messages_are_one_line() -> None:
    strict = one_line(errors.InvalidCitationError([], "text"))
    assert "Drop --strict" in strict and "strict=False" not in strict
    assert one_line(ValueError("two\nlines  here")) == "citeformer: error: two lines here"
    missing = FileNotFoundError(2, "No such file or directory", "a.bib")
    assert one_line(missing) == "citeformer: error: cannot read a.bib: No such file or directory"
    assert one_line(RuntimeError()) == "citeformer: error: RuntimeError"


@pytest.mark.parametrize(
    ("tokens", "expected"),
    [
        (["generate", "Q", "--verify"], ["generate", "Q", "--verify=default"]),
        (["generate", "--verify", "Q"], ["generate", "--verify=default", "Q"]),
        (["generate", "Q", "--verify", "lexical"], ["generate", "Q", "--verify", "lexical"]),
        (["generate", "Q", "--verify", "nli:m"], ["generate", "Q", "--verify", "nli:m"]),
        (["generate", "Q", "--verify=embedding"], ["generate", "Q", "--verify=embedding"]),
        (["verify", "r.json", "--verify"], ["verify", "r.json", "--verify"]),
    ],
)
def test_bare_verify_means_the_default_scorer(tokens: list[str], expected: list[str]) -> None:
    assert _bare_verify(tokens) == expected
