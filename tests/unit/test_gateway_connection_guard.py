"""Which connection gives way when the gateway is at GATEWAY_MAX_CONNECTIONS (no server)."""

from __future__ import annotations

from services.gateway.connections import BUSY, ConnectionGuard


class FakeConnection:
    def __init__(self, name: str):
        self.name = name
        self.dropped_with: bytes | None | str = "not dropped"

    def drop(self, response: bytes | None) -> None:
        self.dropped_with = response


def test_below_the_cap_everyone_is_admitted():
    guard = ConnectionGuard(2)
    a, b = FakeConnection("a"), FakeConnection("b")
    assert guard.admit(a) and guard.admit(b)
    assert guard.open == 2 and a.dropped_with == b.dropped_with == "not dropped"


def test_at_the_cap_the_longest_waiting_gives_way_with_a_503_if_it_began_a_request():
    guard = ConnectionGuard(2)
    old, newer, newest = FakeConnection("old"), FakeConnection("newer"), FakeConnection("newest")
    guard.admit(old)
    guard.started(old)
    guard.admit(newer)
    assert guard.admit(newest)
    assert old.dropped_with == BUSY and newer.dropped_with == "not dropped"
    assert guard.open == 2


def test_an_idle_connection_is_closed_without_an_answer():
    guard = ConnectionGuard(1)
    idle, new = FakeConnection("idle"), FakeConnection("new")
    guard.admit(idle)
    assert guard.admit(new)
    assert idle.dropped_with is None


def test_busy_connections_are_never_evicted_and_a_full_house_refuses_the_newcomer():
    guard = ConnectionGuard(2)
    a, b, c = FakeConnection("a"), FakeConnection("b"), FakeConnection("c")
    guard.admit(a)
    guard.admit(b)
    guard.busy(a)
    guard.busy(b)
    assert not guard.admit(c)
    assert a.dropped_with == b.dropped_with == "not dropped" and guard.open == 2


def test_waiting_again_goes_to_the_back_of_the_queue():
    guard = ConnectionGuard(2)
    first, second, third = FakeConnection("1"), FakeConnection("2"), FakeConnection("3")
    guard.admit(first)
    guard.admit(second)
    guard.busy(first)
    guard.wait(first, started=False)  # answered, now idle keep-alive: the newest waiter
    guard.admit(third)
    assert second.dropped_with is None and first.dropped_with == "not dropped"


def test_a_closed_connection_frees_its_slot():
    guard = ConnectionGuard(1)
    a, b = FakeConnection("a"), FakeConnection("b")
    guard.admit(a)
    guard.closed(a)
    assert guard.admit(b) and a.dropped_with == "not dropped" and guard.open == 1
