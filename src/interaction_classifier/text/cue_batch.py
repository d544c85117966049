"""Cue patterns found in a whole token batch at once, with numpy.

Why: trying each message for its candidate patterns (``cues.CueMatcher.match_rows``) was the
largest cost of ``predict_batch`` (37-56% in docs/benchmarks.md), and a message-level
prefilter cannot help: 81% of inbound tweets really fire a cue (``interaction_type.question
.question_mark`` alone fires in a quarter), so Aho-Corasick or hyperscan over the raw texts
could skip at most a fifth of them. Here each pattern is located in the whole batch instead:

* its anchor step's occurrences (``engine.anchor_index``) come from an index of the batch's
  token occurrences by token id;
* a fixed-length pattern (every step exactly one token; phrases too: ~70% of the patterns)
  is checked at each candidate start by one vocabulary lookup per step, which is exact;
* a pattern with optional or repeated steps is pruned the same way on its leading
  one-token steps, and the engine's backtracking (``CompiledPattern.end_at``) runs only at
  the starts that survive, so its ends are the engine's by construction.

``CueMatcher.match_batch`` then picks the cues from these hits exactly as ``match_rows``
does (tests compare both paths on every worked example and on generated messages).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from interaction_classifier.text.engine import (
    ROW_ATTRS,
    CompiledPattern,
    Identity,
    Row,
    anchor_index,
    compile_pattern,
    repeat_bounds,
    token_row,
)
from interaction_classifier.text.tokens import TokenBatch

Test = tuple[int, str, Any]  # (row column, "in" | "not_in" | "regex" | "flag", argument)
Hits = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # text, start, end, pattern
_EMPTY = np.zeros(0, dtype=np.int64)


@dataclass(frozen=True)
class Step:
    """One pattern token as tests on a batch's distinct tokens."""

    tests: tuple[Test, ...]
    low: int
    high: int
    negated: bool

    @property
    def single(self) -> bool:
        """Exactly one token, whatever the repeat operator."""
        return self.low == self.high == 1


@dataclass(frozen=True)
class BatchPattern:
    """A pattern as :class:`Step` tests; ``compiled`` (the engine's) for variable length."""

    index: int  # position in the matcher's pattern order
    steps: tuple[Step, ...]
    anchor: int | None  # step whose occurrences give the candidate starts
    compiled: CompiledPattern | None  # None: fixed length, no backtracking needed


def _test(attr: str, value: Any) -> Test:
    """One attribute test of a (schema-valid) spaCy pattern token."""
    col = ROW_ATTRS[attr]
    if isinstance(value, bool):
        return col, "flag", value
    if isinstance(value, str):
        return col, "in", frozenset([value])
    ((op, arg),) = value.items()
    if op == "REGEX":
        return col, "regex", re.compile(arg)
    return col, op.lower(), frozenset(arg)


def batch_pattern(index: int, pattern_id: str, pattern: list[dict[str, Any]]) -> BatchPattern:
    """Compile one token pattern (a phrase as one ``LOWER`` token per word)."""
    steps = []
    for token in pattern:
        low, high = repeat_bounds(token.get("OP"))
        tests = tuple(_test(k, v) for k, v in token.items() if k != "OP")
        steps.append(Step(tests, low, high, token.get("OP") == "!"))
    fixed = all(s.single for s in steps)
    compiled = None if fixed else compile_pattern(pattern_id, pattern, Identity())
    return BatchPattern(index, tuple(steps), anchor_index(pattern), compiled)


class Values:
    """Every value the patterns test per string column, numbered, and each set test as a
    lookup table over those numbers: a batch's distinct tokens are then coded once per
    column (one dict lookup each) and a test is one numpy gather."""

    def __init__(self, patterns: list[BatchPattern]) -> None:
        self.codes: dict[int, dict[str, int]] = {}
        for test in (t for p in patterns for s in p.steps for t in s.tests):
            if test[1] in ("in", "not_in"):
                codes = self.codes.setdefault(test[0], {})
                for value in sorted(test[2]):
                    codes.setdefault(value, len(codes) + 1)  # 0: a value no test names
        self._tables: dict[Test, np.ndarray] = {}

    def table(self, test: Test) -> np.ndarray:
        """Whether each code is among a set test's values."""
        if test not in self._tables:
            col, _, values = test
            table = np.zeros(len(self.codes[col]) + 1, dtype=bool)
            table[[self.codes[col][v] for v in values]] = True
            self._tables[test] = table
        return self._tables[test]


class BatchIndex:
    """A batch's distinct tokens as columns, step masks over them, and where each occurs."""

    def __init__(self, batch: TokenBatch, values: Values) -> None:
        self.batch, self.values = batch, values
        self.ids, self.ptr = batch.ids, batch.ptr
        self.doc = batch.doc_of()
        info = batch.info
        self.columns: dict[int, list[Any]] = {
            0: [i.lower for i in info],
            1: [i.lemma for i in info],
            2: list(batch.vocab),
            3: [i.like_num for i in info],
            4: [i.is_alpha for i in info],
            5: [i.is_punct for i in info],
        }
        self._codes: dict[int, np.ndarray] = {}
        self._masks: dict[Step, np.ndarray] = {}
        self._rows: list[Row] | None = None
        self._text_rows: dict[int, list[Row]] = {}
        self.order = np.argsort(self.ids, kind="stable")
        self.count = np.bincount(self.ids, minlength=len(info))
        self.first = np.cumsum(self.count) - self.count

    def _column_codes(self, col: int) -> np.ndarray:
        """The code (:class:`Values`) of each distinct token's value in one column."""
        if col not in self._codes:
            get = self.values.codes[col].get
            self._codes[col] = np.fromiter(
                (get(v, 0) for v in self.columns[col]), dtype=np.int64, count=len(self.columns[col])
            )
        return self._codes[col]

    def _test_mask(self, test: Test) -> np.ndarray:
        """Which distinct tokens pass one test."""
        col, kind, arg = test
        if kind == "regex":
            return np.fromiter(
                (arg.search(v) is not None for v in self.columns[col]),
                dtype=bool,
                count=len(self.columns[col]),
            )
        if kind == "flag":
            return np.array(self.columns[col], dtype=bool) == arg
        mask = self.values.table(test)[self._column_codes(col)]
        return ~mask if kind == "not_in" else mask

    def mask(self, step: Step) -> np.ndarray:
        """Which distinct tokens the step consumes (its tests all pass; "!" inverts)."""
        if step not in self._masks:
            mask = np.ones(len(self.batch.vocab), dtype=bool)  # {}: any token
            for test in step.tests:
                mask &= self._test_mask(test)
            self._masks[step] = mask != step.negated
        return self._masks[step]

    def positions(self, step: Step) -> np.ndarray:
        """Sorted occurrence indices of the tokens a step consumes."""
        tokens = np.flatnonzero(self.mask(step))
        lengths = self.count[tokens]
        offsets = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        return np.sort(self.order[np.repeat(self.first[tokens], lengths) + offsets])

    def rows(self, text: int) -> list[Row]:
        """The engine's token rows of one text, made once per text."""
        if self._rows is None:
            self._rows = [
                token_row(t, i) for t, i in zip(self.batch.vocab, self.batch.info, strict=True)
            ]
        if text not in self._text_rows:
            ids = self.ids[self.ptr[text] : self.ptr[text + 1]].tolist()
            self._text_rows[text] = [self._rows[t] for t in ids]
        return self._text_rows[text]


def _starts(pattern: BatchPattern, index: BatchIndex) -> np.ndarray:
    """Occurrence indices where a match may start: a window before each anchor occurrence
    (every position for a pattern without anchor), kept only where the pattern's leading
    one-token steps hold, inside the text."""
    if pattern.anchor is None:
        starts = np.arange(len(index.ids))
    elif pattern.compiled is None:  # fixed length: the anchor is a fixed step away
        starts = index.positions(pattern.steps[pattern.anchor]) - pattern.anchor
    else:  # the anchor step's first token is between its steps before's min and max
        before = pattern.steps[: pattern.anchor]
        window = np.arange(sum(s.low for s in before), sum(s.high for s in before) + 1)
        anchors = index.positions(pattern.steps[pattern.anchor])
        starts = np.unique((anchors[:, None] - window).ravel())
    texts = index.doc[np.clip(starts, 0, None)] if len(starts) else _EMPTY
    keep = (starts >= 0) & (starts >= index.ptr[texts])
    starts, ends = starts[keep], index.ptr[texts[keep] + 1]
    for j, step in enumerate(pattern.steps):
        if not step.single:
            break
        inside = starts + j < ends
        starts, ends = starts[inside], ends[inside]
        hold = index.mask(step)[index.ids[starts + j]]
        starts, ends = starts[hold], ends[hold]
    return starts


def _can_match(pattern: BatchPattern, index: BatchIndex, starts: np.ndarray) -> np.ndarray:
    """Whether some way through the steps consumes at least one token from each start,
    followed for all starts at once as (start, position) pairs; the engine's backtracking
    tries the same ways, so where none exists it finds no match."""
    size = len(index.ids) + 1
    which, at = np.arange(len(starts)), starts
    for step in pattern.steps:
        mask, stop = index.mask(step), index.ptr[index.doc[starts[which]] + 1]
        ways_which, ways_at = ([which], [at]) if step.low == 0 else ([], [])
        alive = np.ones(len(which), dtype=bool)
        for taken in range(1, step.high + 1):
            last = at + taken - 1
            alive &= last < stop
            alive[alive] = mask[index.ids[last[alive]]]
            if not alive.any():
                break
            if taken >= step.low:
                ways_which.append(which[alive])
                ways_at.append(at[alive] + taken)
        key = np.unique(
            np.concatenate([_EMPTY, *ways_which]) * size + np.concatenate([_EMPTY, *ways_at])
        )
        which, at = key // size, key % size
    found = np.zeros(len(starts), dtype=bool)
    found[which[at > starts[which]]] = True
    return found


def pattern_hits(pattern: BatchPattern, index: BatchIndex) -> Hits:
    """(text, start, end, pattern) of every match, starts and ends within the text."""
    starts = _starts(pattern, index)
    if pattern.compiled is not None:
        starts = starts[_can_match(pattern, index, starts)]
    texts = index.doc[starts]
    local = starts - index.ptr[texts]
    if pattern.compiled is None:
        ends = local + len(pattern.steps)
    else:
        ends = np.array(
            [
                pattern.compiled.end_at(index.rows(t), s)
                for t, s in zip(texts.tolist(), local.tolist(), strict=True)
            ],
            dtype=np.int64,
        )
        found = ends > local
        texts, local, ends = texts[found], local[found], ends[found]
    return texts, local, ends, np.full(len(texts), pattern.index, dtype=np.int64)


def batch_hits(patterns: list[BatchPattern], values: Values, batch: TokenBatch) -> Hits:
    """Every pattern's matches in a batch, sorted by text, start, longest first, then
    pattern order (the order ``CueMatcher.select`` takes them in)."""
    index = BatchIndex(batch, values)
    parts = [pattern_hits(p, index) for p in patterns]
    texts, starts, ends, which = (
        np.concatenate([_EMPTY, *col]) for col in zip(*parts, strict=True)
    )
    order = np.lexsort((which, -ends, starts, texts))
    return texts[order], starts[order], ends[order], which[order]
