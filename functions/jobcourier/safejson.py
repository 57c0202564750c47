"""JSON from outside (requests, provider answers), read within bounds.

The standard parser recurses once per level (30,000 levels: RecursionError), turns a
5,000-digit integer into a ValueError of its own, reads Infinity, NaN and 1e400 as floats that
later overflow, and keeps the last of two equal keys. `loads` refuses all of these with a
ValueError that says what it found, before any of it reaches the code that reads the values.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from jobcourier.text import shorten

MAX_DEPTH = 64  # arrays and objects inside one another
MAX_INTEGER_DIGITS = 40  # beyond any 128-bit id

# A string (to its closing quote or, unterminated, to the end: never a failed match, so one
# pass over the text), or a bracket.
_STRING_OR_BRACKET = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*(?:"|\\?\Z)|[\[\]{}]', re.DOTALL)


def loads(raw: bytes | str) -> Any:
    """The JSON value in `raw`. Raises ValueError (json.JSONDecodeError when it does not
    parse; UnicodeDecodeError when it is not text)."""
    text = raw if isinstance(raw, str) else raw.decode(json.detect_encoding(raw))
    _check_depth(text)
    return json.loads(
        text,
        object_pairs_hook=_unique_keys,
        parse_int=_integer,
        parse_float=_finite_float,
        parse_constant=_no_constant,
    )


def _check_depth(text: str) -> None:
    depth = 0
    for match in _STRING_OR_BRACKET.finditer(text):
        piece = match.group()  # a bracket, or a whole string (whose brackets do not count)
        if piece in ("[", "{"):
            depth += 1
            if depth > MAX_DEPTH:
                raise ValueError(f"expected at most {MAX_DEPTH} levels of nesting. Found more")
        elif piece in ("]", "}"):
            depth -= 1


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:  # '{"job_id": "../../etc", "job_id": "ok"}' is not one job id
            raise ValueError(f"expected each key once in an object. Found {shorten(key)!r} twice")
        seen.add(key)
    return dict(pairs)


def _integer(digits: str) -> int:
    if len(digits.lstrip("-")) > MAX_INTEGER_DIGITS:
        raise ValueError(
            f"expected integers of at most {MAX_INTEGER_DIGITS} digits. "
            f"Found one of {len(digits.lstrip('-'))}"
        )
    return int(digits)


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"expected a finite number. Found {shorten(text, 40)}")
    return value


def _no_constant(name: str) -> float:
    raise ValueError(f"expected a finite number. Found {name}")
