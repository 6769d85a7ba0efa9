"""The agent's inputs: whom to answer, including inputs upcast from MessageTranscribed v1."""

from __future__ import annotations

import pytest

from services.agent.inputs import identity, make_turn, with_identity
from shared.consumer import PermanentFailure
from shared.events import MessageTranscribed, MessageTranscribedData, decode
from shared.ids import conversation_id

USER, BUSINESS, STRANGER = "+34600111222", "+14155238886", "+34600999888"
CONVERSATION = conversation_id(BUSINESS, USER)


def v1_input(sid: str) -> MessageTranscribed:
    """A v1 input as first published (no from/to), read as v2."""
    event = decode({"type": "MessageTranscribed", "version": 1, "conversation": CONVERSATION,
                    "data": {"message_sid": sid, "text": "hi", "source": "typed"}})
    assert isinstance(event, MessageTranscribed) and event.data.from_ is None
    return event


def v2_input(sid: str, user: str = USER) -> MessageTranscribed:
    return MessageTranscribed(conversation=CONVERSATION, data=MessageTranscribedData(
        message_sid=sid, text="hi", source="typed", from_=user, to=BUSINESS))


async def test_a_v1_input_gets_its_sender_from_the_received_message():
    asked = []

    async def find_sender(event: MessageTranscribed):
        asked.append(event.data.message_sid)
        return USER, BUSINESS

    event = await with_identity(v1_input("SM1"), find_sender)
    assert asked == ["SM1"] and identity(event) == (USER, BUSINESS)
    assert await with_identity(v2_input("SM2"), find_sender) is not None and asked == ["SM1"]  # v2: no lookup


async def test_a_found_sender_is_still_checked_against_the_conversation():
    async def wrong_sender(event: MessageTranscribed):
        return STRANGER, BUSINESS

    async def nobody(event: MessageTranscribed):
        return None

    with pytest.raises(PermanentFailure, match="do not match"):
        identity(await with_identity(v1_input("SM1"), wrong_sender))
    with pytest.raises(PermanentFailure, match="no from/to"):
        identity(await with_identity(v1_input("SM1"), nobody))


def test_v1_inputs_in_a_burst_take_the_sender_from_the_others():
    turn = make_turn([(1, v2_input("SM1")), (2, v1_input("SM2")), (3, v1_input("SM3"))])
    assert (turn["user"], turn["business"]) == (USER, BUSINESS)
    assert turn["message_sids"] == ["SM1", "SM2", "SM3"] and (turn["first_seq"], turn["last_seq"]) == (1, 3)
    with pytest.raises(PermanentFailure, match="no from/to"):
        make_turn([(1, v1_input("SM1"))])
    with pytest.raises(PermanentFailure):
        make_turn([(1, v2_input("SM1")), (2, v2_input("SM2", user=STRANGER))])
