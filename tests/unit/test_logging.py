from __future__ import annotations

import json

import structlog

from shared.logging import configure_logging, mask_phone_numbers


def test_phone_numbers_are_masked_wherever_they_appear():
    assert mask_phone_numbers("call +34 600 111 222 now") == "call +*********22 now"
    assert mask_phone_numbers("whatsapp:+14155238886") == "whatsapp:+*********86"
    assert mask_phone_numbers("seq=42 partition 3") == "seq=42 partition 3"


def test_personal_fields_never_reach_info_logs(capsys):
    configure_logging("test", "info", "json")
    log = structlog.get_logger()
    log.info("webhook", body="my secret plan", to="+14155238886", note="from +34600111222", seq=7)
    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert line["body"] == "[redacted]" and line["to"] == "[redacted]"
    assert "34600111222" not in json.dumps(line) and line["seq"] == 7
    assert line["service"] == "test"


def test_debug_level_shows_them(capsys):
    configure_logging("test", "debug", "json")
    structlog.get_logger().debug("webhook", body="hello there")
    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert line["body"] == "hello there"
    configure_logging("test", "info", "json")


def test_third_party_loggers_write_the_same_redacted_json(capsys):
    import logging

    configure_logging("test", "info", "json")
    logging.getLogger("twilio.http_client").warning("POST /Messages.json To=whatsapp:+34600111222")
    logging.getLogger("alembic.runtime.migration").info("Context impl PostgresqlImpl.")  # quiet at info
    lines = [json.loads(line) for line in capsys.readouterr().err.strip().splitlines()]
    assert len(lines) == 1
    assert lines[0]["logger"] == "twilio.http_client" and lines[0]["level"] == "warning"
    assert lines[0]["service"] == "test" and "34600111222" not in lines[0]["event"]
