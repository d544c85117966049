"""The token-form rules that both tokenizers apply: negation scope, kept punctuation, numbers.

The batch tokenizer (:mod:`.tokens`) and the spaCy reference pipeline (:mod:`.pipeline`) must
turn a token into the same feature string; keeping their rules in one place means a change to
one cannot leave the other behind (``tests/code/test_tokens.py`` checks the outputs agree).
"""

from __future__ import annotations

import re

# "!" and "?" carry emphasis in tweets, so they are features; other punctuation is dropped.
KEPT_PUNCT = frozenset({"!", "?"})
# Negation scope (Das & Chen 2001; NRC-Canada, SemEval-2013): words after a negator, up to the
# next clause punctuation, get NEGATION_SUFFIX, so "not good" and "good" are different features.
NEGATION_SUFFIX = "_NEG"
NEGATORS = frozenset({"never", "no", "nothing", "nowhere", "noone", "none", "not", "cannot",
                      "nobody", "neither", "nor", "n't", "nt", "havent", "hasnt", "hadnt",
                      "cant", "couldnt", "shouldnt", "wont", "wouldnt", "dont", "doesnt",
                      "didnt", "isnt", "arent", "aint"})
SCOPE_END = frozenset(".,:;!?")
JOINERS = frozenset({"\u200d", "\ufe0f"})  # emoji joiners left over when emoji are split
# Numbers, ordinals, times and amounts all become one feature: their value is not a signal.
NUM_RE = re.compile(r"[#+\-]?\d[\d.,:/\-]*(?:st|nd|rd|th|s|k|m|am|pm|%)?")
