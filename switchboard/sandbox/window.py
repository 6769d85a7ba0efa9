"""The emulator's WhatsApp rules: the 24-hour window and Content API templates.

Like Twilio, free-form text to a user whose last message is more than 24 hours old fails
with 63016, and a message with `ContentSid` (+ `ContentVariables`) is rendered from the
template, so `switchboard chat` shows what the user would see. The emulator knows when a
user last wrote from the inbound messages it posted itself. Window modes:

- `known` (default): enforced for users the emulator has seen write; messages to a user
  it never saw pass (tests that publish replies without an inbound message keep working);
- `strict`: a user it never saw is outside the window, as on Twilio;
- `off`: no window.

Its clock can be moved forward (`/_sandbox/clock`) so a test puts a user outside the window
without waiting a day.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from typing import Literal

from switchboard.sandbox.errors import TwilioError

WINDOW_S = 24 * 3600
WindowMode = Literal["known", "strict", "off"]
_SID = re.compile(r"^HX[0-9a-f]{32}$")
_PLACEHOLDER = re.compile(r"\{\{\s*(\w+)\s*\}\}")

# Templates every emulator starts with; `switchboard up` configures outbound with them.
BUILTIN_TEMPLATES = {
    "HX00000000000000000000000000000e01": ("reminder", "en", "⏰ Reminder: {{1}} (due at {{2}}). Reply to chat with me again."),
    "HX00000000000000000000000000000e02": ("reminder", "es", "⏰ Recordatorio: {{1}} (a las {{2}}). Respóndeme para seguir hablando."),
}


def builtin_templates_setting() -> str:
    """REMINDER_TEMPLATES for a stack that sends through this emulator."""
    config: dict[str, dict[str, str]] = {}
    for sid, (purpose, language, _) in BUILTIN_TEMPLATES.items():
        config.setdefault(purpose, {})[language] = sid
    return json.dumps(config)


@dataclass
class Template:
    sid: str
    friendly_name: str
    language: str
    body: str


@dataclass
class WhatsAppRules:
    mode: WindowMode = "known"
    offset_s: float = 0.0  # added to the emulator's clock
    last_inbound: dict[str, float] = field(default_factory=dict)  # user address -> when they last wrote
    templates: dict[str, Template] = field(default_factory=lambda: {
        sid: Template(sid, f"builtin_{purpose}_{language}", language, body)
        for sid, (purpose, language, body) in BUILTIN_TEMPLATES.items()
    })

    def now(self) -> float:
        return time.time() + self.offset_s

    def user_wrote(self, user: str) -> None:
        self.last_inbound[_plain(user)] = self.now()

    def check_window(self, to: str) -> None:
        """63016 if free-form text to `to` is outside the 24-hour window."""
        if self.mode == "off":
            return
        last = self.last_inbound.get(_plain(to))
        if last is None:
            if self.mode == "strict":
                raise TwilioError(400, 63016)
            return
        if self.now() - last > WINDOW_S:
            raise TwilioError(400, 63016)

    def add_template(self, friendly_name: str, language: str, body: str, sid: str | None = None) -> Template:
        import secrets

        sid = sid or "HX" + secrets.token_hex(16)
        if not _SID.match(sid):
            raise ValueError("a ContentSid is HX followed by 32 hex digits")
        if not body.strip():
            raise ValueError("a template needs a body")
        template = Template(sid, friendly_name[:100], language[:10], body[:1024])
        self.templates[sid] = template
        return template

    def render(self, content_sid: str, variables: str) -> str:
        """The template's text with `{{n}}` filled from ContentVariables (JSON); Twilio's errors otherwise."""
        template = self.templates.get(content_sid)
        if template is None:
            raise TwilioError(400, 21655)
        try:
            values = json.loads(variables) if variables else {}
        except ValueError:
            raise TwilioError(400, 21656) from None
        if not isinstance(values, dict):
            raise TwilioError(400, 21656)
        return _PLACEHOLDER.sub(lambda m: str(values.get(m.group(1), m.group(0))), template.body)


def _plain(address: str) -> str:
    return address.removeprefix("whatsapp:")
