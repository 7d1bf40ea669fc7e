"""citeformer.testing: the shipped contract suite and its guard against dropped tests.

The guard runs when a subclass is defined, so each case defines one and expects the
``TypeError``; the cases that must pass or skip run a real pytest session (pytester)
over a test module the way an out-of-tree backend's suite would be written.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from typing import Any

import pytest

from citeformer import MockBackend
from citeformer.backends.base import Backend
from citeformer.testing import BackendConformance

pytest_plugins = ["pytester"]

STANDARD = sorted(n for n in vars(BackendConformance) if n.startswith("test"))
MODULE = """
from citeformer import MockBackend
from citeformer.testing import BackendConformance

class TestScripted(BackendConformance):
    {body}

    def make_backend(self):
        return MockBackend("The tower is 330 metres tall [1]. Rome [2] and [9].", chunks=3)
"""


def run_suite(pytester: pytest.Pytester, body: str) -> pytest.RunResult:
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(test_scripted=MODULE.format(body=textwrap.indent(body, "    ").strip()))
    return pytester.runpytest_inprocess("-rs", "-p", "no:cacheprovider")


def test_the_suite_has_its_standard_tests() -> None:
    assert len(STANDARD) >= 6
    assert "test_four_entry_points_agree" in STANDARD


# -- running it ----------------------------------------------------------------------


def test_a_backend_running_the_whole_suite_passes(pytester: pytest.Pytester) -> None:
    result = run_suite(pytester, "options = {}")
    result.assert_outcomes(passed=len(STANDARD))


def test_a_reasoned_skip_skips_that_test_with_its_reason(pytester: pytest.Pytester) -> None:
    body = 'skip_tests = {"test_cancelled_astream_leaves_no_pending_tasks": "no async API"}'
    result = run_suite(pytester, body)
    result.assert_outcomes(passed=len(STANDARD) - 1, skipped=1)
    result.stdout.fnmatch_lines(["SKIPPED*no async API*"])


def test_an_override_without_a_reason_fails_collection(pytester: pytest.Pytester) -> None:
    body = "def test_four_entry_points_agree(self):\n    pass"
    result = run_suite(pytester, body)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*TypeError: TestScripted overrides the standard test test_four_entry_points_agree*"]
    )


def test_a_listed_override_is_skipped_not_run(pytester: pytest.Pytester) -> None:
    body = (
        'skip_tests = {"test_four_entry_points_agree": "replaced by a stricter test"}\n'
        "def test_four_entry_points_agree(self):\n"
        "    raise AssertionError('a listed test must not run')"
    )
    result = run_suite(pytester, body)
    result.assert_outcomes(passed=len(STANDARD) - 1, skipped=1)
    result.stdout.fnmatch_lines(["SKIPPED*replaced by a stricter test*"])


# -- the guard -----------------------------------------------------------------------


class _Backend(BackendConformance):
    """A base for the cases below: only make_backend, nothing dropped."""

    def make_backend(self) -> Backend:
        return MockBackend("Tall [1].")


def test_overriding_a_standard_test_is_a_type_error() -> None:
    with pytest.raises(TypeError, match=r"overrides the standard test test_citations_point_at"):

        class TestOverride(_Backend):
            def test_citations_point_at_supplied_sources(self, cf: Any) -> None:
                pass


def test_setting_a_standard_test_to_none_is_a_type_error() -> None:
    with pytest.raises(
        TypeError, match=r"removes the standard test test_empty_sources.*skip_tests"
    ):

        class TestDropped(_Backend):
            test_empty_sources_rejected_before_the_backend_runs = None


def test_an_unknown_skip_name_is_a_type_error() -> None:
    with pytest.raises(TypeError, match=r"'test_four_entry_point_agree'.*did you mean"):

        class TestTypo(_Backend):
            skip_tests = {"test_four_entry_point_agree": "a typo"}  # noqa: RUF012


@pytest.mark.parametrize("reason", ["", "   ", None, 3])
def test_a_skip_needs_a_reason(reason: Any) -> None:
    with pytest.raises(TypeError, match="must be a non-empty reason"):

        class TestNoReason(_Backend):
            skip_tests = {"test_four_entry_points_agree": reason}  # noqa: RUF012


def test_skip_tests_must_be_a_mapping() -> None:
    with pytest.raises(TypeError, match="must be a mapping"):

        class TestList(_Backend):
            skip_tests = ["test_four_entry_points_agree"]  # type: ignore[assignment]  # noqa: RUF012


def test_a_skip_stays_on_the_class_that_lists_it() -> None:
    class TestSkips(_Backend):
        skip_tests = {"test_four_entry_points_agree": "why"}  # noqa: RUF012

    original = BackendConformance.test_four_entry_points_agree
    assert TestSkips.test_four_entry_points_agree is not original
    assert not hasattr(original, "pytestmark")  # the suite's own test is not marked
    with pytest.raises(pytest.skip.Exception, match="why"):
        TestSkips().test_four_entry_points_agree()  # type: ignore[call-arg]

    class TestUnskips(TestSkips):
        skip_tests = {}  # noqa: RUF012

    assert TestUnskips.test_four_entry_points_agree is original


def test_an_extension_suite_holds_its_subclasses_to_its_tests_too() -> None:
    class ExtendedSuite(BackendConformance, suite=True):
        def test_extra(self) -> None:
            pass

    with pytest.raises(TypeError, match=r"standard test test_extra of .*ExtendedSuite"):

        class TestDropsExtra(ExtendedSuite):
            test_extra = None

    with pytest.raises(TypeError, match="standard test test_four_entry_points_agree"):

        class TestDropsBase(ExtendedSuite):
            test_four_entry_points_agree = None

    class TestSkipsExtra(ExtendedSuite):
        skip_tests = {"test_extra": "why"}  # noqa: RUF012

    assert hasattr(TestSkipsExtra.test_extra, "pytestmark")

    class PlainSubclass(BackendConformance):  # not a suite: its tests are its own
        def test_mine(self) -> None:
            pass

    class TestOverridesMine(PlainSubclass):
        def test_mine(self) -> None:
            pass


def test_without_pytest_the_import_says_what_to_install() -> None:
    code = (
        "import sys; sys.modules['pytest'] = None\n"
        "try:\n    import citeformer.testing\n"
        "except ImportError as e:\n    print(type(e).__name__, e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("MissingDependencyError")
    assert "pip install 'citeformer[testing]'" in out.stdout
