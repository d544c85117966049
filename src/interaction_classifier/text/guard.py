"""Pre-tokenization guard: bounds the work spaCy's tokenizer does on pathological text.

spaCy peels prefixes and suffixes off a whitespace-free span one character at a time, and
every suffix search scans the whole span (its regex is anchored at the end, so ``re.search``
tries every start): a 5,000-character run of ``$`` took 7 s and held the GIL throughout.
Four bounds make the cost linear in the text's length and keep the token count down:

* a run of more than ``max_symbols`` symbols in a row (neither letter, digit nor space:
  punctuation, emoji) keeps its first ``max_symbols``; each would be a token of its own;
* a text keeps its first ``max_total_symbols`` symbols (random symbols between letters are
  a token each: 4,000 of them cost 40 ms);
* a whitespace-free run longer than ``max_token_chars`` is split into pieces of that length;
* :func:`windowed_suffix_search` lets the tokenizer's suffix regex see only the last
  ``window`` characters of a span: every English suffix rule matches a few characters, and
  spaCy uses only the match's length.

Ordinary text has none of these (a word or URL over 300 characters, 20 symbols in a row or
1,000 in a message is pasted data or noise), so its tokens and labels are unchanged
(tests/code/test_guard.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from itertools import islice
from re import Match

MAX_TOKEN_CHARS = 300
MAX_SYMBOLS = 20
MAX_TOTAL_SYMBOLS = 1000
_SYMBOL = re.compile(r"[^\w\s]")
SUFFIX_WINDOW = 32

SuffixSearch = Callable[[str], Match[str] | None]


@lru_cache(maxsize=8)
def _patterns(max_token_chars: int, max_symbols: int) -> tuple[re.Pattern[str], re.Pattern[str]]:
    """The symbol-run and long-run regexes for one pair of limits."""
    if max_token_chars < 1 or max_symbols < 1:
        raise ValueError("guard limits must be at least 1")
    return (re.compile(rf"[^\w\s]{{{max_symbols + 1},}}"),
            re.compile(rf"\S{{{max_token_chars + 1},}}"))


def guard(text: str, max_token_chars: int = MAX_TOKEN_CHARS, max_symbols: int = MAX_SYMBOLS,
          max_total_symbols: int = MAX_TOTAL_SYMBOLS) -> str:
    """``text`` with symbol runs and symbols cut and long whitespace-free runs split (see
    above)."""
    symbols, long_run = _patterns(max_token_chars, max_symbols)
    text = symbols.sub(lambda m: m.group(0)[:max_symbols], text)
    if len(text) > max_total_symbols:
        text = _first_symbols(text, max_total_symbols)
    return long_run.sub(lambda m: _split(m.group(0), max_token_chars), text)


def _first_symbols(text: str, limit: int) -> str:
    """``text`` without the symbols after its first ``limit``."""
    beyond = next(islice(_SYMBOL.finditer(text), limit, None), None)
    if beyond is None:
        return text
    return text[: beyond.start()] + _SYMBOL.sub("", text[beyond.start():])


def _split(run: str, size: int) -> str:
    """A run cut into space-separated pieces of ``size`` characters."""
    return " ".join(run[i: i + size] for i in range(0, len(run), size))


def windowed_suffix_search(search: SuffixSearch, window: int = SUFFIX_WINDOW) -> SuffixSearch:
    """A suffix search that reads only the last ``window`` characters of its argument."""
    def tail_search(string: str) -> Match[str] | None:
        return search(string[-window:])

    return tail_search
