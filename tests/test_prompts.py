"""Prompt assembly: contents in, numbered per style, within budget."""

from __future__ import annotations

import pytest

from citeformer.core import MarkerStyle, Policy, Source
from citeformer.errors import InvalidOptionError
from citeformer.grammar.language import citation_language
from citeformer.prompts import (
    TRUNCATION_MARK,
    PromptBudget,
    build_messages,
    build_prompt,
    fit_contents,
)


def test_messages_hold_contents_labels_and_policy_instructions() -> None:
    sources = [Source("Alpha text.", {"title": "A"}), Source("Beta text.")]
    language = citation_language(2, Policy.REQUIRED, MarkerStyle.CARET)
    system, user = build_messages("Why?", sources, language)
    assert system["role"] == "system" and user["role"] == "user"
    assert "^1 A\nAlpha text." in user["content"]
    assert "^2\nBeta text." in user["content"]
    assert user["content"].endswith("Question: Why?")
    assert "Every sentence must contain" in system["content"]
    assert "^1 to ^2" in system["content"]


@pytest.mark.parametrize(
    ("policy", "phrase"),
    [(Policy.QUOTES_ONLY, "word for word"), (Policy.AUTO, "after each statement")],
)
def test_instructions_follow_the_policy(policy: Policy, phrase: str) -> None:
    language = citation_language(3, policy, MarkerStyle.BRACKET)
    assert phrase in build_messages("q", [Source("x")] * 3, language)[0]["content"]


def test_group_instruction_only_when_groups_are_allowed() -> None:
    small = citation_language(5, Policy.AUTO, MarkerStyle.BRACKET)
    large = citation_language(50, Policy.AUTO, MarkerStyle.BRACKET)
    assert "[1, 2]" in build_messages("q", [Source("x")] * 5, small)[0]["content"]
    assert "[1, 2]" not in build_messages("q", [Source("x")] * 50, large)[0]["content"]


def test_budget_water_fills_short_sources_keep_everything() -> None:
    contents = ["short one", "x " * 500, "y " * 2000]
    fitted = fit_contents(contents, PromptBudget(max_chars=1200))
    assert fitted[0] == "short one"
    assert sum(len(c) for c in fitted) <= 1200
    assert fitted[1].endswith(TRUNCATION_MARK) and fitted[2].endswith(TRUNCATION_MARK)
    assert abs(len(fitted[1]) - len(fitted[2])) < 10  # the long ones share the rest fairly


def test_budget_not_needed_leaves_contents_alone() -> None:
    assert fit_contents(["a", "b"], PromptBudget(max_chars=100)) == ["a", "b"]
    assert fit_contents(["a" * 10**6], PromptBudget(max_chars=None)) == ["a" * 10**6]


def test_token_budget_uses_the_counter() -> None:
    def count(text: str) -> int:
        return len(text.split())

    contents = [" ".join(f"w{i}" for i in range(400)), " ".join(f"v{i}" for i in range(50))]
    fitted = fit_contents(
        contents, PromptBudget(max_chars=None, max_tokens=120, count_tokens=count)
    )
    assert sum(count(c) for c in fitted) <= 120
    assert fitted[1] == contents[1]


def test_budget_checks() -> None:
    with pytest.raises(InvalidOptionError, match="needs count_tokens"):
        PromptBudget(max_tokens=10)
    with pytest.raises(InvalidOptionError, match="positive int"):
        PromptBudget(max_chars=0)


def test_plain_prompt_form() -> None:
    language = citation_language(1, Policy.AUTO, MarkerStyle.BRACKET)
    prompt = build_prompt("Why?", [Source("Because.")], language)
    assert "[1]\nBecause." in prompt and prompt.endswith("Answer:")
