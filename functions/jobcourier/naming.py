"""Names in the bucket, the content types stored with them, and what may be written down
about a source URL.

A download's Content-Type comes from outside. Only a type that parses as a media type (RFC
9110: type "/" subtype, both tokens) is kept, lower-cased and without its parameters; anything
else counts as missing. A browser opening an object renders some types as documents that can
run script (html, svg, xml, pdf ...): every type but raster images, audio and video is stored
with Content-Disposition: attachment, so that a browser saves it instead.
"""

from __future__ import annotations

import mimetypes
import posixpath
import re
from urllib.parse import urlsplit, urlunsplit

# mimetypes' own answers vary by platform (.jpe, .mpga ...); these are the ones consumers expect.
EXTENSIONS = {
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/webp": ".webp",
    "image/gif": ".gif",
    "video/mp4": ".mp4",
    "video/webm": ".webm",
    "video/quicktime": ".mov",
    "audio/mpeg": ".mp3",
    "audio/mp4": ".m4a",
    "audio/wav": ".wav",
    "audio/x-wav": ".wav",
    "application/zip": ".zip",
}
GENERIC_TYPES = frozenset({"application/octet-stream", "binary/octet-stream"})
FALLBACK_TYPE = "application/octet-stream"
FALLBACK_EXTENSION = ".bin"
# RFC 9110 5.6.2: token = 1*tchar; a media type is token "/" token, parameters after ";".
_MEDIA_TYPE = re.compile(r"[!#$%&'*+.^_`|~0-9a-z-]+/[!#$%&'*+.^_`|~0-9a-z-]+")
# Shown by a browser as media, never as a document: these are stored for display in place.
INLINE_TOP_LEVEL_TYPES = frozenset({"image", "audio", "video"})
ATTACHMENT = "attachment"


def result_name(index: int, content_type: str | None, url: str) -> str:
    """`00.png`: a two-digit index plus an extension from the content type, else the URL."""
    return f"{index:02d}{extension(content_type, url)}"


def extension(content_type: str | None, url: str) -> str:
    parsed = media_type(content_type)
    if parsed is not None:
        known = EXTENSIONS.get(parsed) or mimetypes.guess_extension(parsed)
        if known:
            return known
    suffix = posixpath.splitext(urlsplit(url).path)[1].lower()
    if 1 < len(suffix) <= 6 and suffix[1:].isascii() and suffix[1:].isalnum():
        return ".jpg" if suffix == ".jpeg" else suffix
    return FALLBACK_EXTENSION


def media_type(content_type: str | None) -> str | None:
    """`type/subtype` of a Content-Type, lower-cased, parameters dropped; None when it is
    missing, generic (octet-stream) or does not parse ('../../x', 'image/', 'text/html<')."""
    found = (content_type or "").split(";")[0].strip(" \t")
    if not found.isascii():  # "\u212a".lower() is "k": lower-case only what is ASCII
        return None
    found = found.lower()
    if found in GENERIC_TYPES or not _MEDIA_TYPE.fullmatch(found):
        return None
    return found


def content_type_for(name: str, content_type: str | None) -> str:
    """The type an object is stored with: the download's, else one guessed from its name."""
    return media_type(content_type) or mimetypes.guess_type(name)[0] or FALLBACK_TYPE


def disposition_for(content_type: str) -> str | None:
    """Content-Disposition for an object of this (stored) type: None for raster images,
    audio and video; attachment for everything else, active content (html, svg, xml,
    JavaScript, pdf) and types nobody listed included."""
    top, _, subtype = content_type.partition("/")
    if top in INLINE_TOP_LEVEL_TYPES and not subtype.endswith("+xml"):  # image/svg+xml runs
        return None
    return ATTACHMENT


def public_url(url: str) -> str:
    """The URL without query, fragment or user info: signed URLs carry credentials there."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:  # an IPv6 literal keeps its brackets
        host = f"[{host}]"
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))
