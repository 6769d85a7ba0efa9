from __future__ import annotations

import random
import re

import pytest

from services.outbound.splitter import TWILIO_MAX_BODY, split_message, twilio_length

WORDS = ["calendar", "meeting", "tomorrow", "dentist", "lunch", "Ana", "at", "the", "café", "ok"]
URL = "https://example.com/some/really/long/path?with=query&and=more#fragment"


def prose(length: int, seed: int = 1) -> str:
    rng = random.Random(seed)
    out = []
    while sum(len(w) + 1 for w in out) < length:
        word = rng.choice(WORDS + [URL])
        out.append(word + ("." if rng.random() < 0.1 else ""))
    return " ".join(out)[:length].rsplit(" ", 1)[0]


def tokens(text: str) -> list[str]:
    return text.split()


def test_short_text_is_one_part():
    assert split_message("hello") == ["hello"]
    assert split_message("") == []


def test_a_4000_character_reply_is_three_parts_without_splitting_words_or_urls():
    text = prose(4000)
    assert 3900 <= len(text) <= 4000
    parts = split_message(text)
    assert len(parts) == 3
    assert all(twilio_length(p) <= TWILIO_MAX_BODY for p in parts)
    assert [t for p in parts for t in tokens(p)] == tokens(text)  # in order, nothing broken
    for part in parts:
        for url in re.findall(r"https://\S+", part):
            assert url.rstrip(".") == URL


def test_paragraph_boundaries_are_preferred():
    first = prose(1200, seed=2)
    second = prose(1200, seed=3)
    parts = split_message(first + "\n\n" + second)
    assert parts == [first, second]


def test_sentence_boundaries_beat_word_boundaries():
    text = ("One sentence here. " * 120).strip()
    parts = split_message(text)
    assert all(p.endswith(".") for p in parts)


def test_emoji_count_twice_the_way_twilio_counts():
    text = " ".join(["😀😀😀"] * 400)  # 400 * 6 + 399 = 2799 code units, 1599 characters
    assert len(text) < TWILIO_MAX_BODY < twilio_length(text)
    parts = split_message(text)
    assert len(parts) == 2
    assert all(twilio_length(p) <= TWILIO_MAX_BODY for p in parts)
    assert "".join(parts).replace(" ", "") == text.replace(" ", "")


def test_a_token_longer_than_the_limit_is_cut_but_never_inside_a_surrogate_pair():
    text = "😀" * 1000  # 2000 code units, no whitespace
    parts = split_message(text)
    assert "".join(parts) == text
    assert all(twilio_length(p) <= TWILIO_MAX_BODY for p in parts)


@pytest.mark.parametrize("seed", range(20))
def test_random_texts_round_trip(seed):
    text = prose(random.Random(seed).randint(1, 9000), seed)
    parts = split_message(text)
    assert all(0 < twilio_length(p) <= TWILIO_MAX_BODY for p in parts)
    assert [t for p in parts for t in tokens(p)] == tokens(text)
