"""Which dead letters a stage retries by itself (`shared.dead_letter_retry.choose`)."""

from __future__ import annotations

from shared.dead_letter_retry import choose
from shared.dead_letters import DeadLetter
from shared.events import MessageDeadLettered, MessageDeadLetteredData


def dead(seq: int, error: str, consumer: str = "agent-text-p001", original: str = "ev-1", state: str = "open",
         by: str | None = None) -> DeadLetter:
    event = MessageDeadLettered(conversation="c1", data=MessageDeadLetteredData(
        consumer=consumer, stream_sequence=seq - 1, subject="wa.text.p01.c1", deliveries=5, error=error,
        original_type="MessageTranscribed", original_id=original))
    return DeadLetter(seq, event, state=state, retried_by=by)  # type: ignore[arg-type]


def mine(consumer: str) -> bool:
    return consumer == "agent-text-p001"


def test_only_open_transient_dead_letters_of_partitions_this_replica_owns_are_chosen():
    found = [
        dead(10, "OSError('connection refused')", original="a"),
        dead(11, "permanent failure: bad input", original="b"),
        dead(12, "undecodable event: junk", original="c"),
        dead(13, "TimeoutError()", consumer="agent-text-p002", original="d"),
        dead(14, "TimeoutError()", original="e", state="discarded"),
        dead(15, "delivered too often without an outcome", original="f"),
    ]
    assert [d.seq for d in choose(found, mine, attempts=2, limit=50)] == [10, 15]


def test_an_event_is_retried_automatically_at_most_attempts_times_over_its_copies():
    found = [
        dead(10, "TimeoutError()", state="retried", by="auto"),
        dead(20, "TimeoutError()", state="retried", by="auto"),  # the copy, dead again
        dead(30, "TimeoutError()"),  # the second copy, dead again
    ]
    assert choose(found, mine, attempts=2, limit=50) == []
    assert [d.seq for d in choose(found, mine, attempts=3, limit=50)] == [30]
    operator_retry = [dead(10, "TimeoutError()", state="retried", by="operator"), dead(20, "TimeoutError()")]
    assert [d.seq for d in choose(operator_retry, mine, attempts=1, limit=50)] == [20]  # operators' do not count


def test_a_pass_is_bounded_and_takes_the_oldest_first():
    found = [dead(n, "TimeoutError()", original=f"e{n}") for n in range(10, 20)]
    assert [d.seq for d in choose(found, mine, attempts=2, limit=3)] == [10, 11, 12]
