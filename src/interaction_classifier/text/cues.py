"""Rule cues: the matcher that fires the validated patterns of :mod:`.patterns` on a text.

Cues are used as explanations ("reason") and as count features for the models. A cue marked
``"lowers": true`` (urgency only, e.g. "not urgent", "no rush") also suppresses any raising cue
of the same head whose tokens lie inside it, which is how cheap negation works.

Speed: spaCy's Matcher costs O(tokens x patterns) per call, about a millisecond for ~200
patterns, too slow for the prediction hot path (< 100 µs). Patterns are therefore validated with
spaCy's own Matcher schema and then compiled into a small backtracking matcher that runs only
where a pattern's anchor word occurs (see the engine section). Phrases use spaCy's PhraseMatcher.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from operator import attrgetter
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from spacy.attrs import IS_ALPHA, IS_PUNCT, LEMMA, LIKE_NUM, LOWER, ORTH
from spacy.lang.en.stop_words import STOP_WORDS
from spacy.matcher import Matcher, PhraseMatcher
from spacy.tokens import Doc
from spacy.vocab import Vocab

from interaction_classifier.config import PATTERNS_DIR
from interaction_classifier.text.patterns import PatternError, PatternSpec, load_specs
from interaction_classifier.text.pipeline import get_nlp, parse

# Window size for unbounded repeats ("*", "+"): longer runs are not matched (documented cost).
MAX_REPEAT = 6


@dataclass(frozen=True)
class Cue:
    """One fired pattern: which group it feeds, why, and the matched text."""

    id: str
    head: str
    label: str
    reason: str
    text: str
    lowers: bool = False



# ---- fast token-pattern engine -------------------------------------------------------------
# One spaCy Matcher holding every pattern costs O(tokens x patterns) per call (~1 ms for ~200
# patterns; even one Matcher per pattern costs ~5 µs per call), too slow for the prediction hot
# path. Patterns are therefore validated by spaCy's Matcher schema and then compiled into a small
# backtracking matcher over token hashes, run only at positions where the pattern's *anchor*
# (its rarest required token) occurs. It supports the subset below and rejects anything else.

_ROW_ATTRS = {"LOWER": 0, "LEMMA": 1, "ORTH": 2, "LIKE_NUM": 3, "IS_ALPHA": 4, "IS_PUNCT": 5}
_ROW_IDS = [LOWER, LEMMA, ORTH, LIKE_NUM, IS_ALPHA, IS_PUNCT]
_STRING_ATTRS = ("LOWER", "LEMMA", "ORTH")
_FLAG_ATTRS = ("LIKE_NUM", "IS_ALPHA", "IS_PUNCT")
Row = tuple[int, ...]
Check = Callable[[list[Row], Doc, int], bool]  # (rows, doc, position)


def _string_check(attr: str, value: Any, strings) -> Check:
    """Test of one string attribute: exact value, IN, NOT_IN or REGEX."""
    col = _ROW_ATTRS[attr]
    if isinstance(value, str):
        key = strings.add(value)
        return lambda rows, _doc, i: rows[i][col] == key
    if not isinstance(value, dict) or len(value) != 1:
        raise ValueError(f"unsupported {attr} test {value!r}")
    ((op, arg),) = value.items()
    if op in ("IN", "NOT_IN"):
        keys = frozenset(strings.add(v) for v in arg)
        if op == "IN":
            return lambda rows, _doc, i: rows[i][col] in keys
        return lambda rows, _doc, i: rows[i][col] not in keys
    if op == "REGEX":
        regex = re.compile(arg)
        getter = attrgetter(attr.lower() + "_")
        return lambda _rows, doc, i: regex.search(getter(doc[i])) is not None
    raise ValueError(f"unsupported {attr} operator {op!r}")


def _flag_check(attr: str, value: Any) -> Check:
    """Test of one boolean flag such as LIKE_NUM."""
    if not isinstance(value, bool):
        raise ValueError(f"{attr} needs true or false")
    col = _ROW_ATTRS[attr]
    return lambda rows, _doc, i: bool(rows[i][col]) == value


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
    return lambda rows, doc, i: all(check(rows, doc, i) for check in checks)


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

    def end_at(self, rows: list[Row], doc: Doc, start: int) -> int:
        """End of the longest-first match starting at ``start``, or -1."""
        return self._step(rows, doc, 0, start)

    def _step(self, rows: list[Row], doc: Doc, index: int, pos: int) -> int:
        """Backtracking over the repeat counts of step ``index``."""
        if index == len(self.steps):
            return pos
        check, low, high, negated = self.steps[index]
        count = 0
        while count < high and pos + count < len(rows):
            if check(rows, doc, pos + count) == negated:
                break
            count += 1
        for taken in range(count, low - 1, -1):
            end = self._step(rows, doc, index + 1, pos + taken)
            if end >= 0:
                return end
        return -1


def _anchor_index(pattern: list[dict[str, Any]]) -> int | None:
    """Index of the required IN/exact token whose values are least common, if any."""
    options = [
        (_commonness(values), i)
        for i, token in enumerate(pattern)
        if token.get("OP") in (None, "+") and (values := _token_values(token)) is not None
    ]
    return min(options)[1] if options else None


def _token_values(token: dict[str, Any]) -> list[str] | None:
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
    anchor_at = _anchor_index(pattern)
    if anchor_at is None:
        return CompiledPattern(pattern_id, tuple(steps), None, 0)
    anchor = frozenset(strings.add(v) for v in _token_values(pattern[anchor_at]))
    # the anchor may be any repeat of a "+" step, so count its other repeats as "before" too
    before = sum(high for _, _, high, _ in steps[: anchor_at + 1]) - 1
    return CompiledPattern(pattern_id, tuple(steps), anchor, before)


class CueMatcher:
    """Matches every pattern of a pattern directory against a text or a parsed Doc."""

    def __init__(self, pattern_dir: Path | None = None) -> None:
        self.pattern_dir = Path(pattern_dir) if pattern_dir is not None else PATTERNS_DIR
        # Its own vocabulary, not the pipeline's: matching compares hashes, which every
        # vocabulary shares, so the matcher keeps working (and keeps nothing alive) when
        # text.get_nlp() replaces a grown pipeline.
        self.vocab = Vocab()
        self.specs = {s.id: s for s in load_specs(self.pattern_dir)}
        self._groups = list(dict.fromkeys(s.group for s in self.specs.values()))
        self._group_index = {g: i for i, g in enumerate(self._groups)}
        self._phrases = PhraseMatcher(self.vocab, attr="LOWER")
        self._always: list[CompiledPattern] = []  # no anchor: tried at every position
        self._by_anchor: dict[int, list[CompiledPattern]] = {}
        for spec in self.specs.values():
            self._add(spec)

    def _add(self, spec: PatternSpec) -> None:
        """Validate one spec with spaCy's own schema, then register it; errors name the id."""
        try:
            if spec.phrase is not None:
                self._phrases.add(spec.id, [get_nlp().make_doc(spec.phrase)])
                return
            Matcher(self.vocab, validate=True).add(spec.id, [spec.pattern])
            compiled = compile_pattern(spec.id, spec.pattern, self.vocab.strings)
        except Exception as exc:  # spaCy raises MatchPatternError / ValueError subclasses
            message = f"{self.pattern_dir}: pattern {spec.id!r} is invalid: {exc}"
            raise PatternError(message) from exc
        if compiled.anchor is None:
            self._always.append(compiled)
        for key in compiled.anchor or ():
            self._by_anchor.setdefault(key, []).append(compiled)

    def _starts(self, rows: list[Row]) -> dict[CompiledPattern, set[int]]:
        """Each candidate pattern with the token positions where a match may start."""
        starts: dict[CompiledPattern, set[int]] = {p: set(range(len(rows))) for p in self._always}
        by_anchor = self._by_anchor
        for pos, row in enumerate(rows):
            for key in {row[0], row[1], row[2]}:
                for pattern in by_anchor.get(key, ()):
                    starts.setdefault(pattern, set()).update(
                        range(max(0, pos - pattern.before), pos + 1)
                    )
        return starts

    def _raw_matches(self, doc: Doc) -> list[tuple[str, int, int]]:
        """(pattern id, start, end) of every phrase and token-pattern match."""
        strings = self.vocab.strings
        hits = [(strings[m], a, b) for m, a, b in self._phrases(doc)]
        rows = [tuple(r) for r in doc.to_array(_ROW_IDS).tolist()] if len(doc) else []
        for pattern, positions in self._starts(rows).items():
            for start in sorted(positions):
                end = pattern.end_at(rows, doc, start)
                if end > start:
                    hits.append((pattern.id, start, end))
        return hits

    def _doc(self, text_or_doc: str | Doc) -> Doc:
        """Accept a Doc from :func:`get_nlp` (tokenised once) or raw text."""
        return text_or_doc if isinstance(text_or_doc, Doc) else parse(text_or_doc)

    def match(self, text_or_doc: str | Doc) -> list[Cue]:
        """Fired cues, one per pattern id, in order of appearance, negated cues suppressed."""
        doc = self._doc(text_or_doc)
        hits = sorted(self._raw_matches(doc), key=lambda h: (h[1], -h[2]))
        spans = [(self.specs[pattern_id], start, end) for pattern_id, start, end in hits]
        blockers = [(s.head, a, b) for s, a, b in spans if s.lowers]
        cues: dict[str, Cue] = {}
        for spec, start, end in spans:
            if spec.id in cues or _blocked(spec, start, end, blockers):
                continue
            text = doc[start:end].text
            cues[spec.id] = Cue(spec.id, spec.head, spec.label, spec.reason, text, spec.lowers)
        return list(cues.values())

    def feature_names(self) -> list[str]:
        """One feature per (head, label[, lowers]) group, in pattern-file order."""
        return list(self._groups)

    def group_of(self, cue: Cue) -> str:
        """The feature name a cue counts towards."""
        return self.specs[cue.id].group

    def featurize(self, texts: Iterable[str | Doc]) -> sp.csr_matrix:
        """Count of distinct fired patterns per group, one row per text."""
        return self.count([self.match(item) for item in texts])

    def group_counts(self, cues: list[Cue]) -> tuple[np.ndarray, np.ndarray]:
        """Columns (ascending) and counts of one text's fired cue groups."""
        groups = Counter(self._group_index[self.group_of(c)] for c in cues)
        cols = sorted(groups)
        return (np.array(cols, dtype=np.int64),
                np.array([groups[c] for c in cols], dtype=np.float64))

    def count(self, cue_lists: list[list[Cue]]) -> sp.csr_matrix:
        """Group counts for already-matched cues (so a caller can match once and reuse)."""
        rows = [self.group_counts(cues) for cues in cue_lists]
        indptr = np.cumsum([0] + [len(cols) for cols, _ in rows])
        return sp.csr_matrix((np.concatenate([np.zeros(0)] + [n for _, n in rows]),
                              np.concatenate([np.zeros(0, np.int64)] + [c for c, _ in rows]
                                             ).astype(np.int32),
                              indptr.astype(np.int32)),
                             shape=(len(cue_lists), len(self._groups)))


def _blocked(spec: PatternSpec, start: int, end: int, blockers: list[tuple[str, int, int]]) -> bool:
    """True when a raising cue lies inside a lowering cue of the same head ("not urgent")."""
    if spec.lowers:
        return False
    return any(head == spec.head and a <= start and end <= b for head, a, b in blockers)


@lru_cache(maxsize=1)
def get_matcher() -> CueMatcher:
    """The default matcher, built once per process."""
    return CueMatcher()
