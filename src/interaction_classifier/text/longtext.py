"""The long-message policy shared by ``predict``, ``predict_batch``, ``score``, the HTTP service
and the MLflow pyfunc (all of them go through ``Predictor``).

A text over the model's ``max_chars`` used to be cut to its first 5,000 characters by
``predict`` and refused (``too_long``) by ``score``: the two disagreed, and both lost an urgent
ask at the end. Now such a text is scored on its head and its tail (``head_share`` of
``max_chars`` from the start, the rest from the end, cut at whitespace), every urgency cue
found between them (in the first ``max_scan_chars`` characters of the middle) still counts,
and the reasons say the text was shortened.
"""

from __future__ import annotations

from dataclasses import dataclass

from interaction_classifier.text.cues import Cue, CueMatcher

HEAD_SHARE = 0.5
MAX_SCAN_CHARS = 100_000
JOINER = "\n\n"
_SNAP = 50  # how far a cut may move to fall on whitespace


@dataclass(frozen=True)
class LongTextPolicy:
    """How a text over ``max_chars`` is scored (see the module docstring)."""

    max_chars: int
    head_share: float = HEAD_SHARE
    max_scan_chars: int = MAX_SCAN_CHARS

    def __post_init__(self) -> None:
        if self.max_chars < 1 or self.max_scan_chars < 0:
            raise ValueError("max_chars must be at least 1 and max_scan_chars at least 0")
        if not 0.0 <= self.head_share <= 1.0:
            raise ValueError(f"head_share must be in [0, 1], not {self.head_share!r}")

    def split(self, text: str) -> tuple[str, str, str]:
        """(head, middle, tail) of a text over ``max_chars``; head + tail fit in it."""
        head_end = _snap_back(text, round(self.max_chars * self.head_share))
        tail_start = _snap_forward(text, len(text) - (self.max_chars - head_end))
        return text[:head_end], text[head_end:tail_start], text[tail_start:]

    def shorten(self, text: str, matcher: CueMatcher | None
                ) -> tuple[str, list[Cue], str | None]:
        """The text to score, the urgency cues of the part left out, and the reason (None
        when the text fits)."""
        if len(text) <= self.max_chars:
            return text, [], None
        head, middle, tail = self.split(text)
        scanned = middle[: self.max_scan_chars]
        cues = [c for c in matcher.match(scanned) if c.head == "urgency"] \
            if matcher is not None and scanned.strip() else []
        reason = (f"shortened: {len(text):,} characters is over max_chars "
                  f"({self.max_chars:,}); scored the first {len(head):,} and the last "
                  f"{len(tail):,}, with {len(cues)} urgency cue(s) found between them")
        if len(middle) > self.max_scan_chars:
            reason += f" (searched the first {self.max_scan_chars:,} characters between)"
        return JOINER.join(part for part in (head, tail) if part), cues, reason


def _snap_back(text: str, at: int) -> int:
    """``at`` moved back to just after a whitespace within ``_SNAP`` characters, if any."""
    space = text.rfind(" ", max(0, at - _SNAP), at)
    return space + 1 if space > 0 else at


def _snap_forward(text: str, at: int) -> int:
    """``at`` moved forward to a whitespace within ``_SNAP`` characters, if any."""
    space = text.find(" ", at, at + _SNAP)
    return space if space >= 0 else at
