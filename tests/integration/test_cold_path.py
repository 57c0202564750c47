"""A check that only reschedules must not import the storage client: cold starts are paid on
every invocation of a serverless function. Run in a fresh interpreter, as an instance starts:
its read of the job's pending entry (every check makes one) goes over GCS's JSON API."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from typing import Any

from tests.integration.conftest import MAIN, Harness

PROBE = """
import json, sys
from functions_framework import create_app
client = create_app(target="jobcourier", source=sys.argv[1]).test_client()
answer = client.post("/poll", data=sys.argv[2], content_type="application/json")
print(json.dumps({"status": answer.status_code, "body": answer.json,
                  "storage": "google.cloud.storage" in sys.modules}))
"""


def first_check_in_a_new_instance(harness: Harness, job_id: str) -> dict[str, Any]:
    """Submitted here; its first check made by a fresh interpreter, as a new instance."""
    answer = harness.client.post("/jobs", json={"provider": "spacely", "job_id": job_id})
    assert answer.status_code == 202
    task = harness.take()
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(MAIN), task.http_request.body.decode()],
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ),
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_reschedule_only_check_never_imports_the_storage_client(harness: Harness):
    job_id = str(uuid.uuid4())
    harness.spacely.add_job(job_id, pending_checks=5)
    seen = first_check_in_a_new_instance(harness, job_id)
    assert seen["status"] == 200 and seen["body"]["outcome"] == "rescheduled"
    assert seen["storage"] is False
    assert len(harness.queued()) == 1


def test_the_copy_path_does_import_it(harness: Harness):
    job_id = str(uuid.uuid4())
    harness.spacely.add_job(job_id, pending_checks=0)
    seen = first_check_in_a_new_instance(harness, job_id)
    assert seen["body"] == {"outcome": "settled", "state": "succeeded"}
    assert seen["storage"] is True
