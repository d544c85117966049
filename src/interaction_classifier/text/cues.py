"""Rule cues: the matcher that fires the validated patterns of :mod:`.patterns` on a text.

Cues are used as explanations ("reason") and as count features for the models. A cue marked
``"lowers": true`` (urgency only, e.g. "not urgent", "no rush") also suppresses any raising cue
of the same head whose tokens lie inside it, which is how cheap negation works.

Speed: spaCy's Matcher costs O(tokens x patterns) per call, about a millisecond for ~200
patterns, too slow for the prediction hot path (< 100 µs). Patterns are therefore validated with
spaCy's own Matcher schema and then compiled into a small backtracking matcher
(:mod:`.engine`) over the batch tokenizer's tokens (:mod:`.tokens`); a text is tried only for
the patterns whose required tokens it has. A batch of :data:`BATCH_MATCH_MIN` texts or more
is matched as a whole with numpy (:mod:`.cue_batch`), with the same cues.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property, lru_cache
from itertools import pairwise
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from spacy.matcher import Matcher
from spacy.vocab import Vocab

from interaction_classifier.config import PATTERNS_DIR
from interaction_classifier.text.cue_batch import (
    BatchPattern,
    Values,
    batch_hits,
    batch_pattern,
)
from interaction_classifier.text.engine import (
    ROW_ATTRS,
    CompiledPattern,
    Identity,
    Row,
    SpanText,
    compile_pattern,
    doc_rows,
    token_row,
    token_values,
)
from interaction_classifier.text.patterns import PatternError, PatternSpec, load_specs
from interaction_classifier.text.tokens import TokenBatch, encode

# Batches of at least this many texts are matched by ``cue_batch``, smaller ones text by
# text with the requirement prefilter: ``cue_batch`` costs ~12 ms a batch in numpy calls
# (~4,000), so it only pays from ~500 texts (CPU per text, generated tweets: 128 texts 90 us
# against 43 text by text, 512 texts 31 against 40, 2,048 texts 14 against 41).
BATCH_MATCH_MIN = 512


@dataclass(frozen=True)
class Cue:
    """One fired pattern: which group it feeds, why, and the matched text."""

    id: str
    head: str
    label: str
    reason: str
    text: str
    lowers: bool = False


class CueMatcher:
    """Matches every pattern of a pattern directory against texts, token batches
    (``text.tokens``) or, as the reference, a spaCy ``Doc``."""

    def __init__(self, pattern_dir: Path | None = None) -> None:
        self.pattern_dir = Path(pattern_dir) if pattern_dir is not None else PATTERNS_DIR
        self.vocab = Vocab()  # for spaCy's pattern schema check only
        self.specs = {s.id: s for s in load_specs(self.pattern_dir)}
        self._groups = list(dict.fromkeys(s.group for s in self.specs.values()))
        self._group_index = {g: i for i, g in enumerate(self._groups)}
        self._phrases: dict[str, list[tuple[str, tuple[str, ...]]]] = {}  # first lower ->
        self._phrase_ids: set[str] = set()
        self._always: list[CompiledPattern] = []  # no anchor: tried at every position
        self._by_anchor: dict[str, list[CompiledPattern]] = {}
        # Requirements: a token test every match of a pattern passes somewhere (a required
        # step's values); a text is tried for a pattern only if it passes all of them.
        self._requirement_keys: dict[tuple[int, str], list[int]] = {}
        self._requirement_of: list[int] = []  # requirement -> pattern index
        self._ids = list(self.specs)
        self._order = {pattern_id: i for i, pattern_id in enumerate(self._ids)}
        self._token_patterns: dict[str, list[dict]] = {}  # phrases as LOWER tokens
        for spec in self.specs.values():
            self._add(spec)
        self._needed = np.bincount(self._requirement_of, minlength=len(self._ids))
        self._unfiltered = {self._ids[i] for i in np.flatnonzero(self._needed == 0)}

    def _require(self, spec: PatternSpec, tests: list[tuple[int, list[str]]]) -> None:
        """Register the required token tests (column, values) of one pattern."""
        index = self._ids.index(spec.id)
        for col, values in tests:
            requirement = len(self._requirement_of)
            self._requirement_of.append(index)
            for value in set(values):
                self._requirement_keys.setdefault((col, value), []).append(requirement)

    def _add(self, spec: PatternSpec) -> None:
        """Validate one spec with spaCy's own schema, then register it; errors name the id."""
        try:
            if spec.phrase is not None:
                lowers = tuple(t.lower() for t in encode([spec.phrase]).tokens_of(0))
                if not lowers:
                    raise ValueError("the phrase has no tokens")
                self._phrases.setdefault(lowers[0], []).append((spec.id, lowers))
                self._phrase_ids.add(spec.id)
                self._require(spec, [(0, [w]) for w in lowers])
                self._token_patterns[spec.id] = [{"LOWER": w} for w in lowers]
                return
            Matcher(self.vocab, validate=True).add(spec.id, [spec.pattern])
            compiled = compile_pattern(spec.id, spec.pattern, Identity())
            self._token_patterns[spec.id] = spec.pattern
        except Exception as exc:  # spaCy raises MatchPatternError / ValueError subclasses
            message = f"{self.pattern_dir}: pattern {spec.id!r} is invalid: {exc}"
            raise PatternError(message) from exc
        self._require(spec, [(ROW_ATTRS[next(k for k in token if k != "OP")], values)
                             for token in spec.pattern if token.get("OP") in (None, "+")
                             and (values := token_values(token)) is not None])
        if compiled.anchor is None:
            self._always.append(compiled)
        for key in compiled.anchor or ():
            self._by_anchor.setdefault(key, []).append(compiled)

    def _starts(self, rows: list[Row], allowed: set[str] | None
                ) -> dict[CompiledPattern, set[int]]:
        """Each candidate pattern (of ``allowed``, if given) with the token positions where a
        match may start."""
        starts: dict[CompiledPattern, set[int]] = {
            p: set(range(len(rows))) for p in self._always if allowed is None or p.id in allowed}
        by_anchor = self._by_anchor
        for pos, row in enumerate(rows):
            for key in {row[0], row[1], row[2]}:
                for pattern in by_anchor.get(key, ()):
                    if allowed is not None and pattern.id not in allowed:
                        continue
                    starts.setdefault(pattern, set()).update(
                        range(max(0, pos - pattern.before), pos + 1)
                    )
        return starts

    def _raw_matches(self, rows: list[Row], allowed: set[str] | None
                     ) -> list[tuple[str, int, int]]:
        """(pattern id, start, end) of every phrase and token-pattern match."""
        hits = []
        phrases = self._phrases if allowed is None or not allowed.isdisjoint(
            self._phrase_ids) else {}
        for pos, row in enumerate(rows if phrases else ()):
            for pattern_id, lowers in phrases.get(row[0], ()):
                if allowed is not None and pattern_id not in allowed:
                    continue
                end = pos + len(lowers)
                if end <= len(rows) and all(r[0] == w for r, w in
                                            zip(rows[pos:end], lowers, strict=True)):
                    hits.append((pattern_id, pos, end))
        for pattern, positions in self._starts(rows, allowed).items():
            for start in sorted(positions):
                end = pattern.end_at(rows, start)
                if end > start:
                    hits.append((pattern.id, start, end))
        return hits

    def candidates(self, batch: TokenBatch, rows: list[Row]) -> list[set[str]]:
        """Per text, the patterns whose required token tests all pass in it: the product
        (texts x tokens) @ (tokens x requirements) @ (requirements x patterns) on numpy
        arrays, each distinct token's requirements looked up once (one text: with sets,
        which skips ~10 small numpy calls of a single ``predict()``)."""
        if len(batch) == 1:
            return [self._text_candidates([rows[t] for t in set(batch.ids.tolist())])]
        keys = self._requirement_keys
        per_token = [sorted({r for col in range(3) for r in keys.get((col, row[col]), ())})
                     for row in rows]
        lengths = np.array([len(r) for r in per_token], dtype=np.int64)
        flat = np.fromiter((r for reqs in per_token for r in reqs), dtype=np.int64,
                           count=int(lengths.sum()))
        starts = np.cumsum(lengths) - lengths
        pairs = np.unique(batch.doc_of() * len(rows) + batch.ids)  # distinct (text, token)
        docs, tokens = pairs // max(len(rows), 1), pairs % max(len(rows), 1)
        n_req = max(len(self._requirement_of), 1)
        per_pair = lengths[tokens]
        met = np.unique(np.repeat(docs, per_pair) * n_req
                        + flat[_gather(starts[tokens], per_pair)])  # distinct (text, req)
        patterns = np.asarray(self._requirement_of, dtype=np.int64)[met % n_req]
        found, passed = np.unique((met // n_req) * len(self._ids) + patterns,
                                  return_counts=True)
        complete = found[passed == self._needed[found % len(self._ids)]]
        out = [set(self._unfiltered) for _ in range(len(batch))]
        for d, p in zip((complete // len(self._ids)).tolist(),
                        (complete % len(self._ids)).tolist(), strict=True):
            out[d].add(self._ids[p])
        return out

    def _text_candidates(self, rows: list[Row]) -> set[str]:
        """:meth:`candidates` of one text from its distinct token rows."""
        keys = self._requirement_keys
        met = Counter(self._requirement_of[r] for r in {
            r for row in rows for col in range(3) for r in keys.get((col, row[col]), ())})
        return self._unfiltered | {self._ids[p] for p, n in met.items() if n == self._needed[p]}

    def match_rows(self, rows: list[Row], span_text: SpanText,
                   allowed: set[str] | None = None) -> list[Cue]:
        """Fired cues, one per pattern id, in order of appearance, negated cues suppressed;
        only the patterns ``allowed``, if given."""
        order = self._order
        hits = sorted(((start, end, order[pattern_id]) for pattern_id, start, end
                       in self._raw_matches(rows, allowed)), key=lambda h: (h[0], -h[1], h[2]))
        return self.select(hits, span_text)

    def select(self, hits: list[tuple[int, int, int]], span_text: SpanText) -> list[Cue]:
        """The cues of one text's hits (start, end, pattern index), sorted by start, longest
        first, then pattern order (ties between patterns on the same span in file order):
        the first hit of each pattern that no lowering cue of its head covers."""
        specs = self.specs
        spans = [(specs[self._ids[p]], start, end) for start, end, p in hits]
        blockers = [(s.head, a, b) for s, a, b in spans if s.lowers]
        cues: dict[str, Cue] = {}
        for spec, start, end in spans:
            if spec.id in cues or (blockers and _blocked(spec, start, end, blockers)):
                continue
            text = span_text(start, end)
            cues[spec.id] = Cue(spec.id, spec.head, spec.label, spec.reason, text, spec.lowers)
        return list(cues.values())

    def match_batch(self, batch: TokenBatch) -> list[list[Cue]]:
        """:meth:`match_rows` for every text of a batch: the whole batch at once
        (``cue_batch``), or a small batch text by text."""
        if len(batch) < BATCH_MATCH_MIN:
            return self._match_each(batch)
        texts, starts, ends, which = batch_hits(*self._batch_patterns, batch)
        out: list[list[Cue]] = [[] for _ in range(len(batch))]
        cuts = [0, *(np.flatnonzero(np.diff(texts)) + 1).tolist(), len(texts)]
        for at, stop in pairwise(cuts if len(texts) else ()):
            i = int(texts[at])
            ids = batch.ids[batch.ptr[i]: batch.ptr[i + 1]].tolist()
            hits = list(zip(starts[at:stop].tolist(), ends[at:stop].tolist(),
                            which[at:stop].tolist(), strict=True))
            out[i] = self.select(hits, _Spans(batch.texts[i], [batch.vocab[t] for t in ids]))
        return out

    @cached_property
    def _batch_patterns(self) -> tuple[list[BatchPattern], Values]:
        """The patterns as ``cue_batch`` matches them, built on the first large batch (not
        at load: a service that only answers single messages never needs them)."""
        patterns = [batch_pattern(self._order[i], i, p) for i, p in self._token_patterns.items()]
        return patterns, Values(patterns)

    def _match_each(self, batch: TokenBatch) -> list[list[Cue]]:
        """:meth:`match_rows` for each text, tried only for its :meth:`candidates`."""
        rows = [token_row(t, i) for t, i in zip(batch.vocab, batch.info, strict=True)]
        out: list[list[Cue]] = [[] for _ in range(len(batch))]
        for i, allowed in enumerate(self.candidates(batch, rows)):
            if allowed:
                ids = batch.ids[batch.ptr[i]: batch.ptr[i + 1]].tolist()
                out[i] = self.match_rows([rows[t] for t in ids], _Spans(
                    batch.texts[i], [batch.vocab[t] for t in ids]), allowed)
        return out

    def match(self, text_or_doc: object) -> list[Cue]:
        """Fired cues of one raw text (or of a spaCy ``Doc``, the reference tokens)."""
        if isinstance(text_or_doc, str):
            return self.match_batch(encode([text_or_doc]))[0]
        return self.match_rows(*doc_rows(text_or_doc))

    def feature_names(self) -> list[str]:
        """One feature per (head, label[, lowers]) group, in pattern-file order."""
        return list(self._groups)

    def group_of(self, cue: Cue) -> str:
        """The feature name a cue counts towards."""
        return self.specs[cue.id].group

    def featurize(self, texts: Iterable[str]) -> sp.csr_matrix:
        """Count of distinct fired patterns per group, one row per text."""
        return self.count(self.match_batch(encode(list(texts))))

    def group_entries(self, cue_lists: list[list[Cue]]) -> tuple[np.ndarray, np.ndarray]:
        """(text, group column) of every fired cue, for the count features."""
        rows = [i for i, cues in enumerate(cue_lists) for _ in cues]
        cols = [self._group_index[self.group_of(c)] for cues in cue_lists for c in cues]
        return np.array(rows, dtype=np.int64), np.array(cols, dtype=np.int64)

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


class _Spans:
    """Span texts of one cleaned text, from its tokens; their offsets are found (one
    ``str.find`` per token: tokens follow each other with only whitespace between) on the
    first call only, as most texts fire no cue."""

    def __init__(self, text: str, tokens: list[str]) -> None:
        self.text, self.tokens = text, tokens
        self.starts: list[int] | None = None

    def __call__(self, start: int, end: int) -> str:
        if end - start == 1:  # one token: its own text, no offsets needed
            return self.tokens[start]
        starts = self.starts = self.starts or []
        at = starts[-1] + len(self.tokens[len(starts) - 1]) if starts else 0
        for token in self.tokens[len(starts): end]:  # offsets up to the span's last token
            at = self.text.find(token, at)
            starts.append(at)
            at += len(token)
        return self.text[starts[start]: starts[end - 1] + len(self.tokens[end - 1])]


def _gather(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Indices ``starts[i] .. starts[i] + lengths[i]`` of every i, concatenated."""
    offsets = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    return np.repeat(starts, lengths) + offsets


def _blocked(spec: PatternSpec, start: int, end: int, blockers: list[tuple[str, int, int]]) -> bool:
    """True when a raising cue lies inside a lowering cue of the same head ("not urgent")."""
    if spec.lowers:
        return False
    return any(head == spec.head and a <= start and end <= b for head, a, b in blockers)


@lru_cache(maxsize=1)
def get_matcher() -> CueMatcher:
    """The default matcher, built once per process."""
    return CueMatcher()
