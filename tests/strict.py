"""What a test needs from the machine, and what happens when it is missing.

Some tests need things outside Python: Debian's Chromium, the private network namespace made by
``tests/netns-run``, a database or a server. On a developer's machine a test whose requirement is
missing is skipped with the reason. Where the whole suite is meant to run (``CI=true``, or
``make test``, which installs every requirement first and sets ``SCENELINK_REQUIRE_ALL=1``), a
missing requirement is a failure: a suite must never pass by skipping what it was asked to test.

Declare a requirement with the ``requires`` marker (``pytestmark = requires(found, "why")``) or,
where it is only known at run time (a fixture that finds no database), call ``require``.
Deliberate opt-ins (``SCENELINK_SCREENSHOTS``) are plain skips, not requirements.
"""

from __future__ import annotations

import os

import pytest

_TRUE = {"1", "true", "yes", "on"}


def strict() -> bool:
    """True where a missing requirement must fail the run instead of skipping."""
    return any(os.environ.get(name, "").strip().lower() in _TRUE for name in ("CI", "SCENELINK_REQUIRE_ALL"))


def require(available: bool, reason: str) -> None:
    """Inside a test or fixture: carry on if ``available``; otherwise skip, or fail when strict."""
    if available:
        return
    if strict():
        pytest.fail(f"required but missing: {reason} (CI=true or make test: missing requirements fail)", pytrace=False)
    pytest.skip(reason)


def requires(available: bool, reason: str) -> pytest.MarkDecorator:
    """A marker: the test needs something outside Python; see the module's docstring."""
    return pytest.mark.requires(available=available, reason=reason)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "requires(available, reason): skipped when unavailable, a failure under CI=true (tests/strict.py)"
    )


def pytest_runtest_setup(item: pytest.Item) -> None:
    for mark in item.iter_markers("requires"):
        require(mark.kwargs["available"], mark.kwargs["reason"])
