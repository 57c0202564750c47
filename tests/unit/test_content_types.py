"""What a stored result is called and served as: 'Active content is stored as served. A file
served as text/html or image/svg+xml is stored as 00.html or 00.svg with that content type.
The content type ../../x is stored verbatim.'"""

from __future__ import annotations

import pytest

from jobcourier import naming

PNG_URL = "https://cdn.example/out/1.png?sig=abc"
BARE_URL = "https://cdn.example/out/1"


@pytest.mark.parametrize(
    ("served", "url", "name", "stored", "disposition"),
    [
        ("image/png", BARE_URL, "00.png", "image/png", None),
        ("IMAGE/PNG ; charset=binary", BARE_URL, "00.png", "image/png", None),
        ("video/mp4", BARE_URL, "00.mp4", "video/mp4", None),
        ("audio/mpeg", BARE_URL, "00.mp3", "audio/mpeg", None),
        # active content: stored under its own type, but a browser saves it
        ("text/html", BARE_URL, "00.html", "text/html", "attachment"),
        ("text/html; charset=utf-8", PNG_URL, "00.html", "text/html", "attachment"),
        ("image/svg+xml", BARE_URL, "00.svg", "image/svg+xml", "attachment"),
        ("application/xhtml+xml", BARE_URL, "00.xhtml", "application/xhtml+xml", "attachment"),
        ("application/pdf", BARE_URL, "00.pdf", "application/pdf", "attachment"),
        ("application/zip", BARE_URL, "00.zip", "application/zip", "attachment"),
        # not media types: as if there were none (the URL's extension, else .bin)
        ("../../x", BARE_URL, "00.bin", "application/octet-stream", "attachment"),
        ("../../x", PNG_URL, "00.png", "image/png", None),
        ("image/", BARE_URL, "00.bin", "application/octet-stream", "attachment"),
        ("/png", BARE_URL, "00.bin", "application/octet-stream", "attachment"),
        ("image/png/x", BARE_URL, "00.bin", "application/octet-stream", "attachment"),
        ("ima ge/png", BARE_URL, "00.bin", "application/octet-stream", "attachment"),
        ("text/html<script>", BARE_URL, "00.bin", "application/octet-stream", "attachment"),
        ("image/p\u212ang", BARE_URL, "00.bin", "application/octet-stream", "attachment"),
        (
            "text/html\r\nX-Injected: 1",
            BARE_URL,
            "00.bin",
            "application/octet-stream",
            "attachment",
        ),
        ("", BARE_URL, "00.bin", "application/octet-stream", "attachment"),
        (None, "https://cdn.example/out/page.html", "00.html", "text/html", "attachment"),
        ("application/octet-stream", PNG_URL, "00.png", "image/png", None),
    ],
)
def test_stored_names_types_and_dispositions(served, url, name, stored, disposition):
    assert naming.result_name(0, served, url) == name
    assert naming.content_type_for(name, served) == stored
    assert naming.disposition_for(stored) == disposition


@pytest.mark.parametrize(
    ("url", "name"),
    [
        ("https://cdn.example/a.\uff48\uff54\uff4d\uff4c", "00.bin"),  # full-width letters
        ("https://cdn.example/a.\u0663", "00.bin"),  # an Arabic-Indic digit
        ("https://cdn.example/a.webp", "00.webp"),
    ],
)
def test_extensions_from_the_url_are_ascii(url, name):
    assert naming.result_name(0, None, url) == name


@pytest.mark.parametrize(
    ("stored", "disposition"),
    [
        ("image/png", None),
        ("image/avif", None),
        ("video/webm", None),
        ("audio/wav", None),
        ("image/svg+xml", "attachment"),
        ("image/x-foo+xml", "attachment"),
        ("text/html", "attachment"),
        ("text/xml", "attachment"),
        ("application/xml", "attachment"),
        ("text/javascript", "attachment"),
        ("application/javascript", "attachment"),
        ("text/css", "attachment"),
        ("text/plain", "attachment"),
        ("application/pdf", "attachment"),
        ("application/octet-stream", "attachment"),
        ("application/x-unknown-to-anyone", "attachment"),
    ],
)
def test_only_raster_images_audio_and_video_are_stored_for_display_in_place(stored, disposition):
    assert naming.disposition_for(stored) == disposition
