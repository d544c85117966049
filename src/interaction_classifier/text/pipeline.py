"""The spaCy text layer: one cached blank English pipeline, parsing and TF-IDF normalisation.

Since issue #20, fitting and prediction tokenise with :mod:`.tokens` (spaCy's rules once per
distinct chunk of a batch); this pipeline is the reference it is tested against
(tests/code/test_tokens.py) and the tool for writing cue patterns. :func:`clean` is shared.

No trained spaCy model is used (none can be downloaded): the pipeline is ``spacy.blank("en")``
plus a lookup lemmatizer whose tables come from ``spacy-lookups-data``. Prediction of one short
message must stay well under a millisecond, so the lemmatizer maps lower-case hashes to lemma
hashes with a plain dict instead of spaCy's per-token Python lookups.
"""

from __future__ import annotations

import gc
import html
import re
import threading
import unicodedata
from collections.abc import Iterable, Iterator, Sequence

import spacy
from spacy import attrs
from spacy.lang.en import English
from spacy.lang.tokenizer_exceptions import emoticons
from spacy.language import Language
from spacy.pipeline import Lemmatizer
from spacy.strings import get_string_id
from spacy.tokens import Doc, Token
from spacy.util import load_language_data, registry

from interaction_classifier.text.guard import guard, windowed_suffix_search
from interaction_classifier.text.tokenrules import (
    JOINERS,
    KEPT_PUNCT,
    NEGATION_SUFFIX,
    NEGATORS,
    NUM_RE,
    SCOPE_END,
)

# spaCy's emoticon list (":)", ":-(", "xD", ...): punctuation-only tokens, but they carry
# sentiment in tweets, so they are kept rather than dropped with other punctuation.
EMOTICONS = frozenset(emoticons)
_TAG_RE = re.compile(r"</?[A-Za-z!][^<>]{0,200}>")
# Control characters and bidi overrides break tokenisation or hide text; ZWJ (emoji) is kept.
_CONTROL = {cp: " " for cp in (*range(0x00, 0x20), *range(0x7F, 0xA0))}
_BIDI = (0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A), 0xFEFF)
_CONTROL.update({cp: None for cp in _BIDI})
_CONTROL.update({0x2018: "'", 0x2019: "'", 0x201C: '"', 0x201D: '"'})
# spaCy adds every word it has not seen to its string store and vocabulary and never frees
# them (RSS 164 -> 277 MB over 200k novel words in one process, docs/benchmarks.md). Past this
# many strings beyond a fresh pipeline's, the next call gets a new pipeline and the old one is
# freed once no Doc refers to it. spaCy's memory zones would bound it too, but with a
# tokenizer-only pipeline they cost ~25 us a call and switch off the tokenizer cache.
MAX_NEW_STRINGS = 50_000
_PIPELINE: list = []  # [pipeline, string-store size that triggers a rebuild]
# Lexeme attributes nothing here reads (the cue matcher accepts LOWER, LEMMA, ORTH, LIKE_NUM,
# IS_ALPHA and IS_PUNCT only): spaCy computes every attribute for each new word, and these
# were a third of the time of a text of novel words (docs/benchmarks.md, robustness).
_UNUSED_LEX_ATTRS = (attrs.IS_ASCII, attrs.IS_DIGIT, attrs.IS_LOWER, attrs.IS_TITLE,
                     attrs.IS_UPPER, attrs.IS_STOP, attrs.IS_BRACKET, attrs.IS_QUOTE,
                     attrs.IS_LEFT_PUNCT, attrs.IS_RIGHT_PUNCT, attrs.IS_CURRENCY, attrs.SHAPE,
                     attrs.PREFIX, attrs.SUFFIX)
_PIPELINE_LOCK = threading.Lock()


class LowerLookupLemmatizer(Lemmatizer):
    """Lookup lemmatizer keyed on the lower-case form, so "Stolen" and "stolen" share a lemma."""

    def initialize(self, get_examples=None, *, nlp=None, lookups=None) -> None:
        """Precompute ``lower hash -> lemma hash`` from the ``lemma_lookup`` table.

        The table is read straight from spacy-lookups-data: building spaCy's ``Lookups``
        table first hashed its 41k entries once more, 0.12 s of every cold start."""
        table = lookups.get_table("lemma_lookup") if lookups is not None else \
            load_language_data(registry.lookups.get(self.vocab.lang)["lemma_lookup"])
        strings = self.vocab.strings
        self._lemma_ids = {get_string_id(key): strings.add(value.lower())
                           for key, value in table.items()}

    def lookup_lemmatize(self, token: Token) -> list[str]:
        """Lower-case lemma of one token (the slow path; ``__call__`` uses the hash map)."""
        return [self.vocab.strings[self._lemma_ids.get(token.lower, token.lower)]]

    def __call__(self, doc: Doc) -> Doc:
        """Set every token's lemma from the precomputed map (unknown words keep their lower)."""
        lemma_ids = self._lemma_ids
        for token in doc:
            token.lemma = lemma_ids.get(token.lower, token.lower)
        return doc


@English.factory(
    "lower_lookup_lemmatizer",
    assigns=["token.lemma"],
    default_config={"model": None, "mode": "lookup", "overwrite": True, "scorer": None},
)
def make_lower_lookup_lemmatizer(
    nlp: Language, model, name: str, mode: str, overwrite: bool, scorer
) -> LowerLookupLemmatizer:
    """spaCy factory for :class:`LowerLookupLemmatizer`."""
    return LowerLookupLemmatizer(
        nlp.vocab, model, name, mode=mode, overwrite=overwrite, scorer=scorer
    )


def build_nlp() -> Language:
    """A new pipeline: blank English tokenizer (suffix search bounded, :mod:`.guard`; unused
    lexeme attributes not computed) + lookup lemmatizer, nothing downloaded."""
    nlp = spacy.blank("en")
    nlp.tokenizer.suffix_search = windowed_suffix_search(nlp.tokenizer.suffix_search)
    for attr in _UNUSED_LEX_ATTRS:
        nlp.vocab.lex_attr_getters.pop(attr, None)
    nlp.add_pipe("lower_lookup_lemmatizer", name="lemmatizer", config={"mode": "lookup"})
    nlp.initialize()
    return nlp


def get_nlp() -> Language:
    """The shared pipeline, rebuilt once its string store has grown by
    :data:`MAX_NEW_STRINGS`; threads still parsing with the old one are unaffected."""
    current = _PIPELINE
    if current and len(current[0].vocab.strings) <= current[1]:
        return current[0]
    with _PIPELINE_LOCK:
        if not _PIPELINE or len(_PIPELINE[0].vocab.strings) > _PIPELINE[1]:
            grown = bool(_PIPELINE)
            nlp = build_nlp()
            _PIPELINE[:] = [nlp, len(nlp.vocab.strings) + MAX_NEW_STRINGS]
            if grown:  # the old pipeline is a reference cycle: free it now, not at some
                gc.collect()  # later full collection (RSS kept growing until then)
        return _PIPELINE[0]


def clean(text: str) -> str:
    """Make raw text safe to tokenise: HTML entities and tags, control and bidi characters,
    and pathological runs (:func:`.guard.guard`)."""
    if not isinstance(text, str):
        text = "" if text is None else str(text)
    if not text.isascii():  # lone surrogates cannot be encoded and would crash spaCy
        text = text.encode("utf-8", "replace").decode("utf-8")
    if "&" in text:
        text = html.unescape(text)
    if "<" in text:
        text = _TAG_RE.sub(" ", text)
    return guard(unicodedata.normalize("NFKC", text.translate(_CONTROL)))


def parse(text: str) -> Doc:
    """Clean and process one text once, for both normalisation and cue matching."""
    return get_nlp()(clean(text))


def parse_many(texts: Iterable[str], batch_size: int = 256) -> Iterator[Doc]:
    """Batched :func:`parse` via ``nlp.pipe``; a list of one text skips the pipe's
    generators (a service's single message)."""
    if isinstance(texts, Sequence) and len(texts) == 1:
        return iter([parse(texts[0])])
    return get_nlp().pipe((clean(t) for t in texts), batch_size=batch_size)


def token_forms(token: Token) -> tuple[str, str] | None:
    """The feature strings of one token, (lemma, lower-case form), or None to drop it
    (spaces, most punctuation); masked tokens (URL, NUM, ...) have the mask as both."""
    text = token.text
    if text.isalpha():  # most tokens, and none of the cases below: the fast path
        return token.lemma_, token.lower_
    if token.is_space or text in JOINERS:
        return None
    if token.like_email:
        return "EMAIL", "EMAIL"
    if token.like_url:
        return "URL", "URL"
    if text[0] == "@" and len(text) > 1:
        return "@USER", "@USER"
    if NUM_RE.fullmatch(text.lower()) or sum(ch.isdigit() for ch in text) >= 3:
        return "NUM", "NUM"
    if token.is_punct:
        return (text, text) if text in KEPT_PUNCT or text in EMOTICONS else None
    return token.lemma_, token.lower_


def doc_forms(doc: Doc, mark_negation: bool = False) -> tuple[str, str]:
    """:func:`normalise_doc` and :func:`surface_doc` in one pass over the tokens (a service
    reads both for every message)."""
    lemmas, forms, negated = [], [], False
    for token in doc:
        if token.text in SCOPE_END:
            negated = False
        pair = token_forms(token)
        if pair is None:
            continue
        lemma, form = pair
        if mark_negation:
            if token.lower_ in NEGATORS:
                negated = True
            elif negated and token.is_alpha:
                lemma += NEGATION_SUFFIX
        lemmas.append(lemma)
        forms.append(form)
    return " ".join(lemmas), " ".join(forms)


def normalise_doc(doc: Doc, mark_negation: bool = False) -> str:
    """Space-joined lower-case lemmas with URLs, mentions, numbers and emails masked; with
    ``mark_negation``, words in a negation's scope (Das & Chen 2001) carry
    :data:`NEGATION_SUFFIX`, up to the next clause punctuation."""
    return doc_forms(doc, mark_negation)[0]


def surface_doc(doc: Doc) -> str:
    """Space-joined lower-case word forms, masked like :func:`normalise_doc`: the character
    n-grams see the tense and intensity that lemmas erase ("ordered", "worst", "sooo")."""
    return doc_forms(doc)[1]


def strip_negation(normalised: str) -> str:
    """The unmarked form of a :func:`normalise_doc` string (for the character n-grams)."""
    return normalised.replace(NEGATION_SUFFIX, "")


def char_input(normalised: str, surface: str | None, mark_negation: bool) -> str:
    """What the char block reads: the surface forms when it uses them, else the lemma
    string without negation marks."""
    if surface is not None:
        return surface
    return strip_negation(normalised) if mark_negation else normalised


def normalise(text: str, mark_negation: bool = False) -> str:
    """Normalise one raw message for TF-IDF features."""
    return normalise_doc(parse(text), mark_negation)


def prepare_many(texts: Iterable[str], mark_negation: bool = False, surface: bool = False,
                 batch_size: int = 256) -> tuple[list[str], list[str] | None]:
    """Normalised messages (``nlp.pipe`` batching, one parse each) and, with ``surface``,
    their :func:`surface_doc` forms too."""
    forms = [doc_forms(d, mark_negation) for d in parse_many(texts, batch_size=batch_size)]
    return [f[0] for f in forms], [f[1] for f in forms] if surface else None
