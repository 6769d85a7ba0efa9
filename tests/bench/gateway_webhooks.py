"""Signed inbound-message webhooks, pre-built as raw HTTP/1.1 requests.

Every request has its own MessageSid, so each one the gateway acknowledges is a new
event in the stream; the load generators only replay bytes, they never sign anything
while the clock runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tests.twilio_forms import BUSINESS, inbound_form, signed

PATH = "/twilio/messages"
TEXTS = (
    "book the dentist tomorrow at 9",
    "what do I have on friday?",
    "move my 3pm call to 4",
    "hi!",
    "cancel lunch with Marta on Thursday",
    "remind me what we said about the flights",
)
USERS = 500  # distinct senders, so events spread over conversations and partitions


@dataclass(frozen=True)
class SignedRequests:
    """Raw requests and the MessageSid each one carries, in the same order."""

    raw: list[bytes]
    sids: list[str]


def message_sid(run_tag: int, index: int) -> str:
    """A Twilio-shaped sid (SM + 32 hex digits), unique per (run, index)."""
    return f"SM{run_tag:08x}{index:024x}"


def build_requests(count: int, *, token: str, public_base_url: str, host: str, run_tag: int) -> SignedRequests:
    """`count` distinct webhooks signed for `public_base_url` + PATH, addressed to `host`."""
    url = public_base_url.rstrip("/") + PATH
    raw, sids = [], []
    for index in range(count):
        sid = message_sid(run_tag, index)
        user = f"whatsapp:+3460{index % USERS:07d}"
        form = inbound_form(TEXTS[index % len(TEXTS)], sid=sid, user=user, business=BUSINESS)
        body, headers = signed(token, url, form)
        head = (
            f"POST {PATH} HTTP/1.1\r\n"
            f"Host: {host}\r\n"
            "User-Agent: TwilioProxy/1.1\r\n"
            f"Content-Type: {headers['Content-Type']}\r\n"
            f"X-Twilio-Signature: {headers['X-Twilio-Signature']}\r\n"
            f"Content-Length: {len(body)}\r\n"
            "\r\n"
        )
        raw.append(head.encode() + body)
        sids.append(sid)
    return SignedRequests(raw, sids)


def write_for_wrk(requests: SignedRequests, directory: Path, threads: int) -> None:
    """Deal the requests out to one file per wrk thread, NUL-separated.

    Thread k gets requests k, k+threads, …, so no two threads ever send the same sid.
    """
    directory.mkdir(parents=True, exist_ok=True)
    for thread in range(threads):
        share = requests.raw[thread::threads]
        (directory / f"requests-{thread}.bin").write_bytes(b"\0".join(share))
