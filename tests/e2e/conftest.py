"""Everything in tests/e2e is marked `e2e` (`pytest -m "not e2e"` skips the process-level tier)."""

from __future__ import annotations

import pytest


def pytest_itemcollected(item: pytest.Item) -> None:
    item.add_marker(pytest.mark.e2e)
