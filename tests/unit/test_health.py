from __future__ import annotations

import pytest

from services.gateway.config import GatewaySettings
from shared.settings import EX_CONFIG, load_settings


def test_bad_configuration_exits_78_with_a_clear_message(monkeypatch, capsys):
    monkeypatch.delenv("TWILIO_AUTH_TOKEN", raising=False)
    with pytest.raises(SystemExit) as exit_:
        load_settings(GatewaySettings, "gateway")
    assert exit_.value.code == EX_CONFIG == 78
    assert "TWILIO_AUTH_TOKEN is required" in capsys.readouterr().err
