"""Error replies from servers, as one line a person can read.

An Ollama server, a registry or the proxy in front of them may answer an error with a JSON body,
with plain text, or with a whole HTML page (nginx's `502 Bad Gateway` is eight lines of markup).
`one_line` keeps what a person needs: an HTML page's title (or its text without tags), every
run of whitespace as one space, and at most `MAX_REPLY` characters.
"""

from __future__ import annotations

import html
import re

import httpx

__all__ = ["MAX_REPLY", "one_line", "reply_text"]

MAX_REPLY = 300
"""The longest reply text kept in a message: the reason fits a line, a page does not."""

_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]+>")


def one_line(text: str) -> str:
    """`text` as one line: HTML reduced to its title or text, whitespace collapsed, shortened."""
    if "<" in text and ">" in text and re.search(r"<(html|head|body|title|h1)\b", text, re.I):
        title = _TITLE.search(text)
        text = html.unescape(title.group(1) if title else _TAG.sub(" ", text))
    flat = " ".join(text.split())
    return flat if len(flat) <= MAX_REPLY else flat[: MAX_REPLY - 1].rstrip() + "…"


def reply_text(response: httpx.Response) -> str:
    """The body of an error reply as one line, or its reason phrase when it has none."""
    return one_line(response.text) or response.reason_phrase
