"""Salted hashes and pseudonyms: what stands for a user where their data must not be."""

from __future__ import annotations

import json

import pytest
import structlog

from shared.ids import conversation_id
from shared.logging import configure_logging
from shared.privacy import LOCAL_SALT, privacy_salt, pseudonymise_conversations, salted_hash
from switchboard.privacy.retention import RetentionLimits


def test_a_salted_hash_is_stable_and_depends_on_the_salt():
    assert salted_hash("+34600111222", "a") == salted_hash("+34600111222", "a") != salted_hash("+34600111222", "b")
    assert "34600111222" not in salted_hash("+34600111222", "a")


def test_production_needs_its_own_salt():
    assert privacy_salt({}) == LOCAL_SALT
    assert privacy_salt({"PRIVACY_SALT": "s3cret"}) == "s3cret"
    with pytest.raises(ValueError, match="PRIVACY_SALT"):
        privacy_salt({"SWITCHBOARD_ENV": "production"})


def test_conversation_ids_become_pseudonyms_in_text():
    conversation = conversation_id("+14155238886", "+34600111222")
    text = pseudonymise_conversations(f"thread {conversation}.42 and {conversation}", "salt")
    assert conversation not in text and text.count("p" + salted_hash(conversation, "salt")[:12]) == 2
    assert pseudonymise_conversations("c123 and cafe", "salt") == "c123 and cafe"


def test_info_logs_carry_no_conversation_id(capsys):
    conversation = conversation_id("+14155238886", "+34600111222")
    configure_logging("test", "info", "json")
    structlog.get_logger().info("turn_answered", conversation=conversation, subject=f"wa.text.3.{conversation}")
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert conversation not in line and json.loads(line)["conversation"].startswith("p")
    configure_logging("test", "debug", "json")
    structlog.get_logger().debug("turn_answered", conversation=conversation)
    assert conversation in capsys.readouterr().err


@pytest.mark.parametrize("value", ["-1", "ninety"])
def test_retention_limits_refuse_nonsense(value):
    with pytest.raises(ValueError, match="RETENTION_AUDIT_DAYS"):
        RetentionLimits.from_env({"RETENTION_AUDIT_DAYS": value})
    assert RetentionLimits.from_env({}) == RetentionLimits(90, 365, 90)
