"""Names in the bucket and what may be written down about a source URL."""

from __future__ import annotations

import mimetypes
import posixpath
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
GENERIC_TYPES = frozenset({"application/octet-stream", "binary/octet-stream", ""})
FALLBACK_EXTENSION = ".bin"


def result_name(index: int, content_type: str | None, url: str) -> str:
    """`00.png`: a two-digit index plus an extension from the content type, else the URL."""
    return f"{index:02d}{extension(content_type, url)}"


def extension(content_type: str | None, url: str) -> str:
    media_type = (content_type or "").split(";")[0].strip().lower()
    if media_type not in GENERIC_TYPES:
        known = EXTENSIONS.get(media_type) or mimetypes.guess_extension(media_type)
        if known:
            return known
    suffix = posixpath.splitext(urlsplit(url).path)[1].lower()
    if 1 < len(suffix) <= 6 and suffix[1:].isalnum():
        return ".jpg" if suffix == ".jpeg" else suffix
    return FALLBACK_EXTENSION


def content_type_for(name: str, content_type: str | None) -> str:
    media_type = (content_type or "").split(";")[0].strip().lower()
    if media_type not in GENERIC_TYPES:
        return media_type
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


def public_url(url: str) -> str:
    """The URL without query, fragment or user info: signed URLs carry credentials there."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:  # an IPv6 literal keeps its brackets
        host = f"[{host}]"
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))
