"""Text from outside, cut to a size people can read and machines can carry.

A provider's status word or message is copied into log lines, task bodies and manifests; a
hostile or broken provider can make it megabytes long. Every such text passes `shorten` where
it enters (providers/), and every log message passes it again in the log formatter.
"""

from __future__ import annotations

# Provider text (a raw status word, a failure message) is kept to this many characters.
MAX_TEXT = 300


def shorten(text: str, limit: int = MAX_TEXT) -> str:
    """`text` if it has at most `limit` characters; otherwise its beginning and its end around
    a marker that gives the full length, `limit` characters in all."""
    if len(text) <= limit:
        return text
    marker = f" ...[cut, {len(text)} characters in all]... "
    kept = limit - len(marker)
    if kept < 2:
        return text[:limit]
    head = kept - kept // 3  # the beginning says what it is, the end how it finished
    return text[:head] + marker + text[len(text) - (kept - head) :]
