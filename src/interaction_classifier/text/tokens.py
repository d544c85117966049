"""Batch tokenisation: spaCy's English rules run once per distinct whitespace chunk, token
attributes as arrays over the distinct tokens of a batch.

The spaCy pipeline (:mod:`.pipeline`) built a ``Doc`` and a Python ``Token`` object per
word of every message: ~60% of ``predict_batch`` (docs/benchmarks.md). Here a batch is cut
into whitespace chunks by one compiled regex; each *distinct* chunk is split by spaCy's own
English rule tables (special cases, prefix, suffix and infix regexes, URL match) with the
same affix loop as spaCy's tokenizer, and remembered; lower case, lemma (spacy-lookups-data
table), masks and flags are computed once per distinct token. A message is then an array of
integer token ids. ``tests/code/test_tokens.py`` measures agreement with the spaCy pipeline.
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np

from interaction_classifier.text.guard import SUFFIX_WINDOW
from interaction_classifier.text.tokenrules import (
    JOINERS,
    KEPT_PUNCT,
    NEGATORS,
    NUM_RE,
    SCOPE_END,
)

_CHUNK = re.compile(r"(\S+)|(\s+)")
# Distinct chunks whose split is remembered before the cache starts afresh.
CHUNK_CACHE_SIZE = 200_000
MAX_SPECIAL_TOKENS = 6  # the longest special case ("o.O", ":-)", "a.m.") spans fewer tokens
DROP = ""  # the feature string of a token that no block reads (spaces, most punctuation)


@dataclass(frozen=True)
class Rules:
    """spaCy's English tokenizer tables, compiled once per process."""

    specials: dict[str, tuple[str, ...]]
    prefix: object
    suffix: object
    infixes: object
    url_match: object
    emoticons: frozenset[str]
    lemmas: dict[str, str]


@lru_cache(maxsize=1)
def rules() -> Rules:
    """The rule tables (spaCy's English defaults and the spacy-lookups-data lemma table)."""
    from spacy.lang.en import English
    from spacy.lang.tokenizer_exceptions import emoticons
    from spacy.util import compile_infix_regex, compile_prefix_regex, compile_suffix_regex

    d = English.Defaults
    specials = {k: tuple(t[65] for t in v) for k, v in d.tokenizer_exceptions.items()}
    table = resources.files("spacy_lookups_data") / "data" / "en_lemma_lookup.json.gz"
    # keyed like pipeline.LowerLookupLemmatizer: the lower-case form looks up the table
    lemmas = {k: v.lower() for k, v in json.loads(gzip.decompress(table.read_bytes())).items()}
    return Rules(specials, compile_prefix_regex(d.prefixes).search,
                 compile_suffix_regex(d.suffixes).search,
                 compile_infix_regex(d.infixes).finditer, d.url_match,
                 frozenset(emoticons), lemmas)


def _suffix_len(r: Rules, string: str) -> int:
    """spaCy's suffix search on the last :data:`SUFFIX_WINDOW` characters (``.guard``)."""
    m = r.suffix(string[-SUFFIX_WINDOW:])
    return (m.end() - m.start()) if m is not None else 0


def _split_affixes(r: Rules, string: str) -> tuple[str, list[str], list[str]]:
    """spaCy ``Tokenizer._split_affixes``: peel prefixes and suffixes off one chunk."""
    prefixes: list[str] = []
    suffixes: list[str] = []
    last = 0
    while string and len(string) != last:
        if string in r.specials:
            break
        last = len(string)
        m = r.prefix(string)
        pre = (m.end() - m.start()) if m is not None else 0
        if pre and string[pre:] in r.specials:
            prefixes.append(string[:pre])
            string = string[pre:]
            break
        suf = _suffix_len(r, string[pre:])
        if suf and string[:-suf] in r.specials:
            suffixes.append(string[-suf:])
            string = string[:-suf]
            break
        if pre and suf and pre + suf <= len(string):
            prefixes.append(string[:pre])
            suffixes.append(string[-suf:])
            string = string[pre:-suf]
        elif pre:
            prefixes.append(string[:pre])
            string = string[pre:]
        elif suf:
            suffixes.append(string[-suf:])
            string = string[:-suf]
    return string, prefixes, suffixes


def _infix_split(r: Rules, string: str) -> list[str]:
    """spaCy ``Tokenizer._attach_tokens`` for the middle of a chunk: infix splits."""
    if string in r.specials:
        return list(r.specials[string])
    if r.url_match(string):
        return [string]
    out, start = [], 0
    for m in r.infixes(string):
        if m.start() == 0:  # spaCy skips an infix at the very start
            continue
        if m.start() != start:
            out.append(string[start: m.start()])
        if m.end() > m.start():
            out.append(string[m.start(): m.end()])
        start = m.end()
    if start < len(string):
        out.append(string[start:])
    return out or [string]


def split_chunk(chunk: str) -> tuple[str, ...]:
    """The tokens spaCy's English tokenizer makes of one whitespace-free chunk."""
    r = rules()
    if chunk in r.specials:
        return r.specials[chunk]
    middle, prefixes, suffixes = _split_affixes(r, chunk)
    tokens = (*prefixes, *(_infix_split(r, middle) if middle else ()), *reversed(suffixes))
    return _merge_specials(r, tokens) if len(tokens) > 1 else tokens


def _merge_specials(r: Rules, tokens: tuple[str, ...]) -> tuple[str, ...]:
    """spaCy's special-case matcher: a run of tokens that spells a special case ("great:)"
    -> "great", ":", ")" -> "great", ":)") is re-split as the special case says; the
    longest run first, left to right."""
    out: list[str] = []
    i = 0
    while i < len(tokens):
        for j in range(min(len(tokens), i + MAX_SPECIAL_TOKENS), i + 1, -1):
            special = r.specials.get("".join(tokens[i:j]))
            if special is not None:
                out.extend(special)
                i = j
                break
        else:
            out.append(tokens[i])
            i += 1
    return tuple(out)


@lru_cache(maxsize=CHUNK_CACHE_SIZE)
def cached_split(chunk: str) -> tuple[str, ...]:
    """:func:`split_chunk`, remembered for the most recent distinct chunks."""
    return split_chunk(chunk)


def tokenize(text: str) -> list[str]:
    """The token strings of one cleaned text, spaces as spaCy keeps them: a whitespace run
    after a word loses one leading ``" "`` and becomes a token if anything is left."""
    out: list[str] = []
    for chunk, space in _CHUNK.findall(text):
        if chunk:
            out.extend(cached_split(chunk))
        elif out and space[0] == " ":
            if len(space) > 1:
                out.append(space[1:])
        else:
            out.append(space)
    return out


@dataclass(frozen=True)
class TokenInfo:
    """What every block reads of one distinct token string."""

    lower: str
    lemma: str
    feature: str  # the lemma, a mask (URL, NUM, ...) or DROP
    form: str  # the lower-case form, the mask or DROP
    is_alpha: bool
    is_punct: bool
    like_num: bool
    negator: bool
    scope_end: bool


@lru_cache(maxsize=CHUNK_CACHE_SIZE)
def token_info(token: str) -> TokenInfo:
    """:class:`TokenInfo` of one token, as ``pipeline.token_forms`` makes it from spaCy."""
    from spacy.lang.en.lex_attrs import like_num
    from spacy.lang.lex_attrs import is_punct, like_email, like_url

    r = rules()
    lower = token.lower()
    lemma = r.lemmas.get(lower, lower)
    punct = is_punct(token)
    feature, form = _forms(token, lower, lemma, punct, like_email, like_url, r.emoticons)
    return TokenInfo(lower, lemma, feature, form, token.isalpha(), punct, like_num(token),
                     feature != DROP and lower in NEGATORS, token in SCOPE_END)


def _forms(token: str, lower: str, lemma: str, punct: bool, like_email, like_url,
           emoticons: frozenset[str]) -> tuple[str, str]:
    """(feature, form) of one token; ``pipeline.token_forms`` is the reference."""
    if token.isalpha():
        return lemma, lower
    if token.isspace() or token in JOINERS:
        return DROP, DROP
    if like_email(token):
        return "EMAIL", "EMAIL"
    if like_url(token):
        return "URL", "URL"
    if token[0] == "@" and len(token) > 1:
        return "@USER", "@USER"
    if NUM_RE.fullmatch(lower) or sum(ch.isdigit() for ch in token) >= 3:
        return "NUM", "NUM"
    if punct:
        return (token, token) if token in KEPT_PUNCT or token in emoticons else (DROP, DROP)
    return lemma, lower


@dataclass(frozen=True)
class TokenBatch:
    """A batch of cleaned texts as integer ids into its distinct tokens."""

    texts: list[str]  # cleaned (``pipeline.clean``)
    vocab: list[str]  # distinct token strings
    info: list[TokenInfo]  # one per vocab entry
    ids: np.ndarray  # int64 token id of every occurrence, texts one after another
    ptr: np.ndarray  # int64 (n_texts + 1,) offsets into ``ids``

    def __len__(self) -> int:
        return len(self.texts)

    def flags(self, name: str) -> np.ndarray:
        """One boolean attribute of :class:`TokenInfo` per occurrence."""
        per_token = np.fromiter((getattr(t, name) for t in self.info), dtype=bool,
                                count=len(self.info))
        return per_token[self.ids]

    def tokens_of(self, i: int) -> list[str]:
        """The token strings of text ``i``."""
        return [self.vocab[t] for t in self.ids[self.ptr[i]: self.ptr[i + 1]].tolist()]

    def subset(self, rows: Sequence[int]) -> TokenBatch:
        """The texts ``rows`` of this batch, sharing its distinct tokens."""
        parts = [self.ids[self.ptr[i]: self.ptr[i + 1]] for i in rows]
        ptr = np.concatenate([[0], np.cumsum([len(p) for p in parts])]).astype(np.int64)
        ids = np.concatenate(parts) if parts else np.zeros(0, np.int64)
        return TokenBatch([self.texts[i] for i in rows], self.vocab, self.info, ids, ptr)

    def doc_of(self) -> np.ndarray:
        """The text index of every occurrence."""
        return np.repeat(np.arange(len(self.texts)), np.diff(self.ptr))

    def negated(self) -> np.ndarray:
        """Per occurrence: inside a negation's scope (after a negator, before the next clause
        punctuation of its text; ``pipeline.doc_forms`` is the reference)."""
        if len(self.texts) == 1:
            return self._text_negated()
        n = len(self.ids)
        at = np.arange(n)
        ends = np.where(self.flags("scope_end"), at, -1)
        starts = self.ptr[:-1][np.diff(self.ptr) > 0]
        ends[starts] = np.maximum(ends[starts], starts - 1)  # a text starts a new scope
        last_end = np.maximum.accumulate(ends) if n else ends
        negators = np.where(self.flags("negator"), at, -1)
        last_neg = np.concatenate([[-1], np.maximum.accumulate(negators)[:-1]]) if n \
            else negators
        return last_neg > last_end


    def _text_negated(self) -> np.ndarray:
        """:meth:`negated` of a one-text batch in one pass, without ~12 numpy calls."""
        out, last_negator, last_end = [], -1, -1
        for at, token in enumerate(self.ids.tolist()):
            info = self.info[token]
            last_end = at if info.scope_end else last_end
            out.append(last_negator > last_end)
            last_negator = at if info.negator else last_negator
        return np.array(out, dtype=bool)


def encode(texts: list[str]) -> TokenBatch:
    """Clean and tokenise a batch (``pipeline.clean``, then :func:`tokenize`)."""
    from interaction_classifier.text.pipeline import clean

    cleaned = [clean(t) for t in texts]
    index: dict[str, int] = {}
    ids: list[int] = []
    ptr = [0]
    setdefault = index.setdefault
    for text in cleaned:
        ids.extend([setdefault(tok, len(index)) for tok in tokenize(text)])
        ptr.append(len(ids))
    vocab = list(index)
    return TokenBatch(cleaned, vocab, [token_info(t) for t in vocab],
                      np.asarray(ids, dtype=np.int64), np.asarray(ptr, dtype=np.int64))
