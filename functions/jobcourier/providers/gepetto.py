"""Gepetto (docs/providers.md#gepetto): GET /v1/job/{id} with a Bearer key.

A job created with a webhook starts as {"status": "pending", "id": ...} and ends as
{"status": "success", "output": "<image URL>", "mode": ..., "createdAt": ...}. A failure status
is not documented: "failed", "error" and "canceled" are taken as failures, anything else
unknown keeps the job checking. Idle models cold-start for minutes, so the first check waits.
The webhook POSTs {"id": ..., "output": ...}, unsigned: it only prompts a status check.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from jobcourier.errors import BadRequest, ProviderProtocolError
from jobcourier.model import Observation, Output, ProviderStatus
from jobcourier.pacing import Pacing
from jobcourier.ports import ProviderApi
from jobcourier.providers.base import direct_url, raise_for_status
from jobcourier.text import shorten

name = "gepetto"
default_base_url = "https://europe-west1-gepettoai.cloudfunctions.net"
pacing = Pacing(
    first_check_s=60.0,
    min_interval_s=10.0,
    max_interval_s=120.0,
    factor=1.5,
    jitter=0.1,
    default_deadline_s=3 * 3600.0,
    target_lag_s=45.0,
)
resolve_url = direct_url

STATUSES = {
    "pending": ProviderStatus.PENDING,
    "queued": ProviderStatus.PENDING,
    "starting": ProviderStatus.PENDING,
    "processing": ProviderStatus.PENDING,
    "running": ProviderStatus.PENDING,
    "success": ProviderStatus.SUCCEEDED,
    "succeeded": ProviderStatus.SUCCEEDED,
    "failed": ProviderStatus.FAILED,
    "failure": ProviderStatus.FAILED,
    "error": ProviderStatus.FAILED,
    "canceled": ProviderStatus.FAILED,
    "cancelled": ProviderStatus.FAILED,
}


def auth_headers(api_key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"}


def check(api: ProviderApi, job_id: str) -> Observation:
    response = api.get(f"/v1/job/{quote(job_id, safe='')}", {})
    raise_for_status(response, not_found=frozenset({400, 404}))
    body = response.json()
    if not isinstance(body, dict) or not isinstance(body.get("status"), str):
        raise ProviderProtocolError("expected {'status': ...} from Gepetto")
    raw = shorten(body["status"])
    status = STATUSES.get(raw.lower(), ProviderStatus.UNKNOWN)
    if status is ProviderStatus.FAILED:
        return Observation(status, raw, message=_message(body))
    if status is not ProviderStatus.SUCCEEDED:
        return Observation(status, raw)
    outputs = body.get("output")
    urls = outputs if isinstance(outputs, list) else [outputs]
    if not urls or not all(isinstance(u, str) and u for u in urls):
        raise ProviderProtocolError("expected 'output' to be an image URL on success")
    return Observation(status, raw, outputs=tuple(Output(url=u) for u in urls))


def webhook_job_id(body: Any) -> str:
    if not isinstance(body, dict) or not isinstance(body.get("id"), str) or not body["id"]:
        raise BadRequest('a Gepetto webhook body must be {"id": "...", "output": ...}')
    return str(body["id"])


def _message(body: dict[str, Any]) -> str | None:
    for key in ("error", "message", "reason"):
        if isinstance(body.get(key), str) and body[key]:
            return shorten(body[key])
    return None
