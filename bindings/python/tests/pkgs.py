"""The pinned PyPI packages the tests install (deps/test-packages.txt),
from the directory scripts/deps.sh fills."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def packages(*names: str) -> list[str]:
    """The package files (all, or those of `names`); skips the test when
    the directory is not there, and fails it in CI."""
    d = os.environ.get("ERYX_TEST_PACKAGES_DIR")
    if not d or not os.path.isdir(d):
        if os.environ.get("CI") == "true":
            pytest.fail("ERYX_TEST_PACKAGES_DIR is not set (scripts/deps.sh sets it)")
        pytest.skip("ERYX_TEST_PACKAGES_DIR is not set")
    return sorted(str(p) for p in Path(d).iterdir() if not names or p.name.split("-")[0] in names)
