"""What a stored result carries in the real bucket (the GCS emulator), whatever type the
download claimed: 'Active content is stored as served ... The content type ../../x is stored
verbatim.'"""

from __future__ import annotations

import uuid

from devstack.fakes.server import ServedFile
from tests.integration.conftest import Harness

SERVED = [  # (the download's Content-Type, its URL's file name)
    ("text/html", "page.png"),
    ("image/svg+xml", "logo.png"),
    ("../../x", "plain"),
    ("image/png; charset=binary", "1.png"),
    ("IMAGE/WEBP", "2.png"),
]
STORED = [  # (name, content type, content disposition)
    ("00.html", "text/html", "attachment"),
    ("01.svg", "image/svg+xml", "attachment"),
    ("02.bin", "application/octet-stream", "attachment"),
    ("03.png", "image/png", None),
    ("04.webp", "image/webp", None),
]


def test_stored_objects_carry_a_parsed_type_and_active_content_is_an_attachment(
    harness: Harness,
):
    jid = str(uuid.uuid4())
    harness.spacely.add_job(jid, pending_checks=0, files=0)
    harness.spacely.jobs[jid].urls = [
        harness.spacely.serve_file(f"types/{jid}/{name}", ServedFile(served, b"<svg/>"))
        for served, name in SERVED
    ]
    harness.client.post("/jobs", json={"provider": "spacely", "job_id": jid})
    answer = harness.deliver(harness.take())
    assert answer.json == {"outcome": "settled", "state": "succeeded"}
    objects = harness.objects(f"spacely/{jid}/")
    manifest = harness.manifest(jid)
    for entry, (name, content_type, disposition) in zip(manifest["files"], STORED, strict=True):
        blob = objects[f"spacely/{jid}/{name}"]
        assert (blob.content_type, blob.content_disposition) == (content_type, disposition)
        assert entry["name"] == name and entry["content_type"] == content_type
