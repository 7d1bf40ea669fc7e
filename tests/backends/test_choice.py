"""Constrained choices: the shared pieces, MockBackend, and out-of-tree backends.

The real grammars are checked with the real matchers in ``test_choice_hf.py``
(XGrammar) and ``test_choice_llamacpp.py`` (llama.cpp's grammar sampler).
"""

from __future__ import annotations

import asyncio
import pickle
from typing import Any

import pytest

from citeformer.backends.base import Backend
from citeformer.backends.choice import (
    Choice,
    ChoiceCall,
    UnparsableChoiceError,
    has_native_achoose,
    options_ebnf,
    parse_choice,
    probabilities_from,
)
from citeformer.backends.mock import MockBackend
from citeformer.core import Policy, Source
from citeformer.errors import BackendContractError, InvalidOptionError, UnexpectedBackendError

YES_NO = ("yes", "no")


class OnlyGenerate(Backend):
    """An out-of-tree backend written only against ``generate()``."""

    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.calls: list[tuple[str, list[Source], Policy, dict[str, Any]]] = []

    def generate(self, prompt: str, sources: list[Source], policy: Policy, **options: Any) -> str:
        self.calls.append((prompt, sources, policy, options))
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer  # type: ignore[no-any-return]


class NativeAsync(OnlyGenerate):
    """An out-of-tree backend with a native ``agenerate``."""

    async def agenerate(
        self, prompt: str, sources: list[Source], policy: Policy, **options: Any
    ) -> str:
        await asyncio.sleep(0)
        return self.generate(prompt, sources, policy, **options)


def test_choice_probability_falls_back_to_one_and_zero() -> None:
    assert Choice("yes").probability("yes") == 1.0
    assert Choice("yes").probability("no") == 0.0
    assert Choice("no", {"yes": 0.3, "no": 0.7}).probability("yes") == 0.3


@pytest.mark.parametrize("options", ["yes", ["yes"], ["yes", "yes"], ["yes", ""], [1, 2], None])
def test_bad_options_are_refused(options: Any) -> None:
    with pytest.raises(InvalidOptionError):
        ChoiceCall.build("q", ["premise"], options)


def test_the_call_numbers_its_sources_and_names_the_options() -> None:
    call = ChoiceCall.build("Does it?", ["The premise."], YES_NO)
    system, user = call.messages
    assert "yes or no" in system["content"]
    assert user["content"].startswith("Source [1]:\nThe premise.\n\nDoes it?")
    assert call.request.custom_messages == tuple(call.messages)


@pytest.mark.parametrize(
    ("answer", "expected"),
    [("yes", "yes"), (" no\n", "no"), ("Yes.", "yes"), ("NO, it does not", "no"),
     ("yes sir", "yes")],
)  # fmt: skip
def test_parse_choice_reads_the_first_word(answer: str, expected: str) -> None:
    assert parse_choice(answer, YES_NO, provider="x") == expected


@pytest.mark.parametrize("answer", ["maybe", "", "  ", "[1]", "yesno", "The answer is yes", "n"])
def test_an_unparsable_answer_is_an_error_never_no(answer: str) -> None:
    with pytest.raises(UnparsableChoiceError) as caught:
        parse_choice(answer, YES_NO, provider="x")
    assert caught.value.answer == answer
    assert caught.value.options == YES_NO
    copy = pickle.loads(pickle.dumps(caught.value))
    assert (copy.answer, copy.options, copy.provider) == (answer, YES_NO, "x")


def test_probabilities_count_tokens_that_begin_an_option() -> None:
    masses = [("yes", 0.5), ("y", 0.1), ("no", 0.2), ("No", 0.3), ("maybe", 0.4)]
    got = probabilities_from(masses, YES_NO)
    assert got == pytest.approx({"yes": 0.6 / 0.8, "no": 0.2 / 0.8})
    folded = probabilities_from([(" Yes", 0.2), ("no", 0.2), ("No", 0.4)], YES_NO, fold=True)
    assert folded == pytest.approx({"yes": 0.25, "no": 0.75})
    # A token running past the option (the JSON's closing quote) counts for it too.
    assert probabilities_from([(b'yes"}', 0.3), (b"no", 0.1)], YES_NO) == pytest.approx(
        {"yes": 0.75, "no": 0.25}
    )
    # A token shared by two options is split between them.
    shared = probabilities_from([("ye", 0.4), ("yes", 0.2)], ("yes", "yeah"))
    assert shared == pytest.approx({"yes": 0.4 / 0.6, "yeah": 0.2 / 0.6})
    assert probabilities_from([("maybe", 1.0)], YES_NO) is None


def test_the_options_grammar_text() -> None:
    assert options_ebnf(YES_NO) == 'root ::= "yes" | "no"'
    assert options_ebnf(['say "hi"', "a\\b"]) == 'root ::= "say \\"hi\\"" | "a\\\\b"'


# -- MockBackend -------------------------------------------------------------------------


def test_mock_answers_with_its_scripted_reply_and_probabilities() -> None:
    assert MockBackend("Yes.").choose("q", ["p"], YES_NO) == Choice("yes", None)
    scripted = MockBackend("no", probabilities={"yes": 1, "no": 3})
    assert scripted.choose("q", ["p"], YES_NO) == Choice("no", {"yes": 0.25, "no": 0.75})
    by_prompt = MockBackend({"a": "yes", "b": "no"})
    assert [by_prompt.choose(q, ["p"], YES_NO).text for q in "ab"] == ["yes", "no"]
    with pytest.raises(UnparsableChoiceError):
        MockBackend("perhaps").choose("q", ["p"], YES_NO)
    with pytest.raises(InvalidOptionError):
        MockBackend("yes", probabilities={"yes": 0}).choose("q", ["p"], YES_NO)


async def test_mock_achoose_runs_in_a_thread() -> None:
    backend = MockBackend("no")
    assert not has_native_achoose(backend)
    assert (await backend.achoose("q", ["p"], YES_NO)).text == "no"


def test_backend_errors_go_through_the_boundary() -> None:
    with pytest.raises(UnexpectedBackendError) as caught:
        MockBackend("yes", error=RuntimeError("boom")).choose("q", ["p"], YES_NO)
    assert isinstance(caught.value.__cause__, RuntimeError)


# -- out-of-tree backends ----------------------------------------------------------------


def test_an_out_of_tree_backend_answers_through_generate() -> None:
    backend = OnlyGenerate("Yes, the source says so.")
    assert backend.choose("Claim: x", ["The premise."], YES_NO) == Choice("yes", None)
    prompt, sources, policy, options = backend.calls[0]
    assert sources == [Source(content="The premise.")]  # the premise is the one source
    assert policy is Policy.AUTO
    assert "yes or no" in prompt and "Claim: x" in prompt
    assert options["max_tokens"] == 16


def test_an_out_of_tree_backend_that_rambles_is_unparsable() -> None:
    with pytest.raises(UnparsableChoiceError, match="none of the options"):
        OnlyGenerate("Maybe; it is hard to say.").choose("q", ["p"], YES_NO)


def test_an_out_of_tree_backend_that_breaks_the_contract_is_named() -> None:
    with pytest.raises(BackendContractError, match="OnlyGenerate"):
        OnlyGenerate(None).choose("q", ["p"], YES_NO)
    with pytest.raises(UnexpectedBackendError, match="OnlyGenerate raised KeyError"):
        OnlyGenerate(KeyError("k")).choose("q", ["p"], YES_NO)


async def test_out_of_tree_achoose_uses_agenerate() -> None:
    assert not has_native_achoose(OnlyGenerate("yes"))
    assert (await OnlyGenerate("no").achoose("q", ["p"], YES_NO)).text == "no"
    native = NativeAsync("yes")
    assert has_native_achoose(native)
    assert (await native.achoose("q", ["p"], YES_NO)).text == "yes"
    with pytest.raises(UnparsableChoiceError):
        await NativeAsync("dunno").achoose("q", ["p"], YES_NO)
