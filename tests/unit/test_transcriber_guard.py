"""The hallucination guard on Whisper's own numbers (the values come from the committed
fixtures: tiny.en on Spanish, base on English and Spanish)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from services.transcriber.failures import Unclear, polite_reply
from services.transcriber.guard import Guard


@dataclass
class Seg:
    avg_logprob: float
    no_speech_prob: float
    compression_ratio: float = 0.9
    start: float = 0.0
    end: float = 3.0


@pytest.mark.parametrize("segment, language, probability, multilingual", [
    (Seg(-0.41, 0.10), "en", 1.0, False),  # tiny.en, English
    (Seg(-0.61, 0.01), "en", 0.79, True),  # base, English
    (Seg(-0.86, 0.11), "es", 0.74, True),  # base, espeak Spanish
    (Seg(-1.01, 0.06), "es", 0.51, True),  # base, robotic Spanish: kept, with a low confidence
])
def test_heard_words_pass_with_their_confidence(segment, language, probability, multilingual):
    confidence = Guard().check([segment], language, probability, multilingual)
    assert confidence is not None and 0.3 < confidence < 0.7


@pytest.mark.parametrize("segment, language, probability, multilingual", [
    (Seg(-1.32, 0.30), "en", 1.0, False),  # tiny.en on Spanish: English nonsense
    (Seg(-1.11, 0.28), "en", 1.0, False),
    (Seg(-1.31, 0.44, 1.65), "en", 1.0, False),  # "ya ya ya ya"
    (Seg(-0.5, 0.7), "en", 0.9, True),  # probably no speech at all
    (Seg(-0.4, 0.1, 2.9), "en", 0.9, True),  # a loop
    (Seg(-0.5, 0.1), "es", 0.3, True),  # unsure of the language
    (Seg(-0.5, 0.1), "nn", 0.9, True),  # a language we do not handle
])
def test_doubtful_words_are_refused(segment, language, probability, multilingual):
    with pytest.raises(Unclear):
        Guard().check([segment], language, probability, multilingual)
    assert polite_reply(Unclear.code) == "I couldn't make that out, could you type it?"


def test_segments_count_by_their_length():
    long_good, short_bad = Seg(-0.3, 0.05, end=20.0), Seg(-2.0, 0.5, start=20.0, end=21.0)
    assert Guard().check([long_good, short_bad], "en", 0.9, True) is not None
