"""E-mail replies: keep the customer's new words, drop the quoted conversation below them.

A ticket exported from a mailbox often carries the whole thread: "On Mon, Support wrote:"
and the agent's friendly reply, quoted. Scored as it is, that text reads as thanks and
praise. ``quotequail`` (Close's quote detector) finds the quoted part; only multi-line
text with a reply marker is handed to it, so tweets and chats pay nothing.
"""

from __future__ import annotations

import re

# Cheap pre-check: a quoted line, a separator line, or a reply/forward header.
_MARKER = re.compile(r"^\s*(>|-{4,}|_{4,}|from:)|wrote:|original message|forwarded", re.I | re.M)
# The reply header quotequail leaves above a quote, possibly wrapped over two lines.
_INTRO = re.compile(r"(?:^|\n)[ \t]*On\b[^\n]*(?:\n[^\n]*)?wrote:\s*$", re.I)
_SEPARATOR = re.compile(r"^\s*(?:-{4,}|_{4,}|-*\s*original message\s*-*)\s*$", re.I)


def _above_quote(part: str) -> str | None:
    """The text above a quote without its header line; None if the header is a forward."""
    part = part.rstrip()
    last = part.rsplit("\n", 1)[-1]
    if "forward" in last.lower():
        return None
    if _INTRO.search(part):
        return _INTRO.sub("", part).strip()
    if _SEPARATOR.match(last):
        return part[: len(part) - len(last)].strip()
    return part.strip()


def _inline_answers(quote: str) -> str:
    """Unquoted lines inside a ``>``-quoted block: answers written between the quotes."""
    lines = quote.split("\n")
    if not any(line.lstrip().startswith(">") for line in lines):
        return ""  # an Outlook-style quote has no markers: all of it is the old message
    return "\n".join(x for x in lines if x.strip() and not x.lstrip().startswith(">"))


def reply_body(text: str) -> tuple[str, int]:
    """The text without the quoted reply thread, and how many characters were removed.

    Forwarded messages are kept whole: what a customer forwards (a bank's e-mail, an error
    report) is part of what they are saying. A message that is all quote is kept as it is.
    """
    if "\n" not in text or not _MARKER.search(text):
        return text, 0
    import quotequail

    parts = quotequail.quote(text)
    if all(own for own, _ in parts):
        return text, 0
    kept: list[str] = []
    for i, (own, part) in enumerate(parts):
        if not own:
            kept.append(_inline_answers(part))
            continue
        above = _above_quote(part) if i + 1 < len(parts) else part.strip()
        if above is None:
            return text, 0
        kept.append(above)
    body = "\n\n".join(k for k in kept if k)
    if not body:
        return text, 0
    return body, len(text) - len(body)
