"""Everything in tests/e2e is marked `e2e`: `make test` runs that tier alone, after the rest."""

from __future__ import annotations

import pytest


def pytest_itemcollected(item: pytest.Item) -> None:
    item.add_marker(pytest.mark.e2e)
