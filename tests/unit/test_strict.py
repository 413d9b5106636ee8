"""A missing browser, namespace, database or server skips on a developer's machine and fails in CI."""

from __future__ import annotations

import pytest

from tests.strict import strict

NEEDS_WIDGET = """
import pytest
from tests.strict import require, requires

@requires(False, "no widget on this machine")
def test_marked():
    pass

@pytest.fixture
def widget():
    require(False, "no widget server either")

def test_through_a_fixture(widget):
    pass

@requires(True, "the widget is here")
def test_present():
    pass
"""


@pytest.fixture
def suite(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    for name in ("CI", "SCENELINK_REQUIRE_ALL"):
        monkeypatch.delenv(name, raising=False)
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makeconftest("from tests.strict import pytest_configure, pytest_runtest_setup")
    pytester.makepyfile(test_widget=NEEDS_WIDGET)
    return pytester


def test_a_developer_machine_skips_with_the_reason(suite: pytest.Pytester) -> None:
    result = suite.runpytest_inprocess("-rs")
    result.assert_outcomes(passed=1, skipped=2)
    result.stdout.fnmatch_lines(["*no widget on this machine*", "*no widget server either*"])


@pytest.mark.parametrize("name, value", [("CI", "true"), ("SCENELINK_REQUIRE_ALL", "1")])
def test_ci_turns_the_skips_into_failures(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    result = suite.runpytest_inprocess()
    result.assert_outcomes(passed=1, errors=2)  # refused at set-up, before the test runs
    result.stdout.fnmatch_lines(["*required but missing: no widget on this machine*"])
    assert result.ret != 0


@pytest.mark.parametrize(
    "environ, expected",
    [
        ({}, False),
        ({"CI": "true"}, True),
        ({"CI": "1"}, True),
        ({"CI": "TRUE"}, True),
        ({"CI": "false"}, False),
        ({"CI": ""}, False),
        ({"SCENELINK_REQUIRE_ALL": "1"}, True),
        ({"SCENELINK_REQUIRE_ALL": "0"}, False),
    ],
)
def test_strictness_comes_from_ci_or_make_test(
    monkeypatch: pytest.MonkeyPatch, environ: dict[str, str], expected: bool
) -> None:
    for name in ("CI", "SCENELINK_REQUIRE_ALL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    assert strict() is expected
