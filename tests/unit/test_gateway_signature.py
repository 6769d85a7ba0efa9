"""The gateway's one-HMAC signature check decides exactly as Twilio's RequestValidator."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator

from services.gateway.signature import FormParams, SignatureCheck, parse_form
from services.gateway.webhooks import clean_text

TOKEN = "unit-token-0123456789abcdef"
URLS = [
    "https://switchboard.example.com/twilio/messages",
    "https://switchboard.example.com:443/twilio/messages",
    "https://switchboard.example.com:8443/twilio/messages?x=1",
    "http://127.0.0.1:8000/twilio/status",
    "http://127.0.0.1/twilio/status",
]
text = st.text(alphabet=st.characters(codec="utf-8"), max_size=12)
forms = st.dictionaries(text, st.lists(text, min_size=1, max_size=2), max_size=6).map(FormParams)


@settings(max_examples=300, deadline=None, database=None)
@given(url=st.sampled_from(URLS), signed_url=st.sampled_from(URLS), params=forms, other=forms,
       tamper=st.booleans(), algorithm=st.sampled_from([None, "key=k1,algorithm=HMAC_SHA256", "algorithm=MD5"]))
def test_one_hmac_accepts_and_refuses_what_request_validator_does(url, signed_url, params, other, tamper, algorithm):
    validator = RequestValidator(TOKEN)
    name = None
    if algorithm is not None:
        name = algorithm.rpartition("=")[2]
    try:
        signature = validator.compute_signature(signed_url, other if tamper else params, algorithm=name)
    except ValueError:  # an algorithm Twilio does not have: sign with SHA1 anyway
        signature = validator.compute_signature(signed_url, params)
    expected = validator.validate(url, params, signature, algorithm=name)
    assert SignatureCheck(TOKEN).valid(url, params, signature, algorithm) == expected


def test_a_signature_header_that_is_not_ascii_is_refused_not_an_error():
    params = FormParams({"Body": ["hi"]})
    assert SignatureCheck(TOKEN).valid(URLS[0], params, "sïgnature\udcff", None) is False


def test_parse_form_keeps_repeated_keys_in_order():
    params = parse_form(b"From=a&Body=x&From=b&Empty=")
    assert params == {"From": ["a", "b"], "Body": ["x"], "Empty": [""]}
    assert params.repeated() == ["From"]


def test_clean_text_keeps_newline_and_tab_only():
    every_c0 = "".join(chr(c) for c in range(32))
    assert clean_text(f"a{every_c0}b\x7f\u0085") == "a\t\nb\x7f\u0085"
