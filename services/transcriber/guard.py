"""Telling heard words from hallucinated ones, from what Whisper says about its own output.

Whisper writes fluent text even for noise or a language it does not know (`tiny.en` turns
Spanish into English nonsense). Each segment comes with the probability that there was
no speech, the mean log-probability of its tokens and a compression ratio (repetitive
text compresses well: "ya ya ya ya"). A note is `Unclear` when, weighted by duration:

- the mean log-probability is below `min_avg_logprob` (the words are guesses) and the
  no-speech probability is above `doubt_no_speech`, or it is below `min_avg_logprob` - 0.3
  whatever that says (English-only `tiny.en` on Spanish: -1.1 to -1.3 with 0.3-0.5 no-speech;
  `base` on robotic Spanish: about -1.0 with 0.1, kept, with a low `confidence`);
- the mean no-speech probability is above `max_no_speech`;
- any segment compresses better than `max_compression` (a loop);
- the engine detected a language it is unsure of (below `min_language_probability`) or one
  outside `languages`.

The thresholds follow Whisper's own fallback rules (log-probability -1, compression 2.4,
no-speech 0.6); the language bound was set on the committed fixtures (spoken notes score
0.5-0.9 with `base`; silence and hiss 0.4-0.5 and no words).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Protocol

from services.transcriber.failures import Unclear


class Segment(Protocol):
    start: float
    end: float
    avg_logprob: float
    no_speech_prob: float
    compression_ratio: float


@dataclass(frozen=True)
class Guard:
    min_avg_logprob: float = -1.0
    doubt_no_speech: float = 0.2
    max_no_speech: float = 0.6
    max_compression: float = 2.4
    min_language_probability: float = 0.4
    languages: frozenset[str] = frozenset({"en", "es"})

    def check(self, segments: Iterable[Segment], language: str | None, language_probability: float | None,
              multilingual: bool) -> float | None:
        """The confidence of the words (0-1), or `Unclear` if they are not to be trusted."""
        heard = [s for s in segments if s.end > s.start]
        if not heard:
            return None
        total = sum(s.end - s.start for s in heard)
        logprob = sum(s.avg_logprob * (s.end - s.start) for s in heard) / total
        no_speech = sum(s.no_speech_prob * (s.end - s.start) for s in heard) / total
        if logprob < self.min_avg_logprob - 0.3 or logprob < self.min_avg_logprob and no_speech > self.doubt_no_speech:
            raise Unclear(f"low confidence (mean log-probability {logprob:.2f}, no-speech {no_speech:.2f})")
        if no_speech > self.max_no_speech:
            raise Unclear(f"probably no speech ({no_speech:.2f})")
        if max(s.compression_ratio for s in heard) > self.max_compression:
            raise Unclear("repetitive output (compression ratio above the bound)")
        if multilingual and language_probability is not None and language_probability < self.min_language_probability:
            raise Unclear(f"unsure of the language ({language} at {language_probability:.2f})")
        if multilingual and language and self.languages and language not in self.languages:
            raise Unclear(f"a language we do not handle ({language})")
        return round(math.exp(logprob), 3)
