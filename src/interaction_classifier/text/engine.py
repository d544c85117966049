"""The cue patterns' matching engine: spaCy token patterns compiled into predicates over
token rows, tried only where a pattern's anchor word occurs.

One spaCy Matcher holding every pattern costs O(tokens x patterns) per call (~1 ms for ~200
patterns; even one Matcher per pattern costs ~5 us per call), too slow for the prediction hot
path. Patterns are therefore validated by spaCy's Matcher schema (``cues.CueMatcher``) and
then compiled here into a small backtracking matcher over rows of token strings and flags,
run only at positions where the pattern's *anchor* (its rarest required token) occurs. It
supports the subset below and rejects anything else.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from spacy.lang.en.stop_words import STOP_WORDS

# Window size for unbounded repeats ("*", "+"): longer runs are not matched (documented cost).
MAX_REPEAT = 6

ROW_ATTRS = {"LOWER": 0, "LEMMA": 1, "ORTH": 2, "LIKE_NUM": 3, "IS_ALPHA": 4, "IS_PUNCT": 5}
_STRING_ATTRS = ("LOWER", "LEMMA", "ORTH")
_FLAG_ATTRS = ("LIKE_NUM", "IS_ALPHA", "IS_PUNCT")
Row = tuple[int, ...]
Check = Callable[[list[Row], int], bool]  # (rows, position)
SpanText = Callable[[int, int], str]  # (start, end) token positions -> the text they cover


class Identity:
    """A string store whose keys are the strings: rows hold the strings themselves."""

    @staticmethod
    def add(value: str) -> str:
        return value


def token_row(token: str, info: object) -> Row:
    """(lower, lemma, orth, like_num, is_alpha, is_punct) of one token (``text.tokens``)."""
    return (info.lower, info.lemma, token, info.like_num, info.is_alpha, info.is_punct)


def doc_rows(doc: object) -> tuple[list[Row], SpanText]:
    """The rows and span texts of a spaCy ``Doc``: the reference pipeline's tokens matched
    by the same engine (tests compare the two)."""
    rows = [(t.lower_, t.lemma_, t.text, t.like_num, t.is_alpha, t.is_punct) for t in doc]
    return rows, lambda a, b: doc[a:b].text


def _string_check(attr: str, value: Any, strings) -> Check:
    """Test of one string attribute: exact value, IN, NOT_IN or REGEX."""
    col = ROW_ATTRS[attr]
    if isinstance(value, str):
        key = strings.add(value)
        return lambda rows, i: rows[i][col] == key
    if not isinstance(value, dict) or len(value) != 1:
        raise ValueError(f"unsupported {attr} test {value!r}")
    ((op, arg),) = value.items()
    if op in ("IN", "NOT_IN"):
        keys = frozenset(strings.add(v) for v in arg)
        if op == "IN":
            return lambda rows, i: rows[i][col] in keys
        return lambda rows, i: rows[i][col] not in keys
    if op == "REGEX":
        regex = re.compile(arg)
        return lambda rows, i: regex.search(rows[i][col]) is not None
    raise ValueError(f"unsupported {attr} operator {op!r}")


def _flag_check(attr: str, value: Any) -> Check:
    """Test of one boolean flag such as LIKE_NUM."""
    if not isinstance(value, bool):
        raise ValueError(f"{attr} needs true or false")
    col = ROW_ATTRS[attr]
    return lambda rows, i: bool(rows[i][col]) == value


def compile_token(token: dict[str, Any], strings) -> Check:
    """One token object -> a predicate over (hash rows, doc, position); all tests must pass."""
    checks = []
    for attr, value in token.items():
        if attr == "OP":
            continue
        if attr in _STRING_ATTRS:
            checks.append(_string_check(attr, value, strings))
        elif attr in _FLAG_ATTRS:
            checks.append(_flag_check(attr, value))
        else:
            raise ValueError(f"attribute {attr!r} is not supported by the cue matcher")
    if len(checks) == 1:
        return checks[0]
    return lambda rows, i: all(check(rows, i) for check in checks)


def repeat_bounds(op: str | None) -> tuple[int, int]:
    """(min, max) tokens one pattern token consumes; MAX_REPEAT caps unbounded repeats."""
    bounds = {None: (1, 1), "!": (1, 1), "?": (0, 1), "*": (0, MAX_REPEAT), "+": (1, MAX_REPEAT)}
    if op in bounds:
        return bounds[op]
    if not (isinstance(op, str) and op.startswith("{") and op.endswith("}")):
        raise ValueError(f"unsupported OP {op!r}")
    low, _, high = op[1:-1].partition(",") if "," in op else (op[1:-1], "", op[1:-1])
    return int(low or 0), int(high) if high else MAX_REPEAT


@dataclass(frozen=True, eq=False)  # identity hash: used as a dict key on the hot path
class CompiledPattern:
    """A token pattern as predicates with repeat bounds, plus where to start looking."""

    id: str
    steps: tuple[tuple[Check, int, int, bool], ...]  # (check, min, max, negated)
    anchor: frozenset[int] | None  # hashes of the anchor token's values
    before: int  # max tokens a match can span before the anchor token

    def end_at(self, rows: list[Row], start: int) -> int:
        """End of the longest-first match starting at ``start``, or -1."""
        return self._step(rows, 0, start)

    def _step(self, rows: list[Row], index: int, pos: int) -> int:
        """Backtracking over the repeat counts of step ``index``."""
        if index == len(self.steps):
            return pos
        check, low, high, negated = self.steps[index]
        count = 0
        while count < high and pos + count < len(rows):
            if check(rows, pos + count) == negated:
                break
            count += 1
        for taken in range(count, low - 1, -1):
            end = self._step(rows, index + 1, pos + taken)
            if end >= 0:
                return end
        return -1


def anchor_index(pattern: list[dict[str, Any]]) -> int | None:
    """Index of the required IN/exact token whose values are least common, if any."""
    options = [
        (_commonness(values), i)
        for i, token in enumerate(pattern)
        if token.get("OP") in (None, "+") and (values := token_values(token)) is not None
    ]
    return min(options)[1] if options else None


def token_values(token: dict[str, Any]) -> list[str] | None:
    """Values of a token that tests exactly one LOWER/LEMMA/ORTH value or IN set."""
    attrs = [k for k in token if k != "OP"]
    if len(attrs) != 1 or attrs[0] not in _STRING_ATTRS:
        return None
    value = token[attrs[0]]
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict) and list(value) == ["IN"]:
        return list(value["IN"])
    return None


def _commonness(words: list[str]) -> int:
    """How often a token test will pass: stop words cost much more than content words."""
    return sum(100 if word in STOP_WORDS else 1 for word in words)


def compile_pattern(pattern_id: str, pattern: list[dict[str, Any]], strings) -> CompiledPattern:
    """Compile one (already schema-valid) spaCy token pattern."""
    steps = []
    for token in pattern:
        low, high = repeat_bounds(token.get("OP"))
        steps.append((compile_token(token, strings), low, high, token.get("OP") == "!"))
    anchor_at = anchor_index(pattern)
    if anchor_at is None:
        return CompiledPattern(pattern_id, tuple(steps), None, 0)
    anchor = frozenset(strings.add(v) for v in token_values(pattern[anchor_at]))
    # the anchor may be any repeat of a "+" step, so count its other repeats as "before" too
    before = sum(high for _, _, high, _ in steps[: anchor_at + 1]) - 1
    return CompiledPattern(pattern_id, tuple(steps), anchor, before)
