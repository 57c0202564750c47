"""Spacely enterprise API (docs/providers.md#spacely).

GET /api/v1/generate/poll-result?refId=ID with X-API-KEY answers
{"data": {"status": "processing" | "success", "result": [png urls]}}; "failed" is handled by
public clients. HTTP 400 means the job is unknown. Beyond 100 calls/s the account is blocked
(a lockout, not a 429): the per-provider queue's rate limit holds that across all jobs.
"""

from __future__ import annotations

import logging

from jobcourier.errors import ProviderProtocolError
from jobcourier.model import Observation, Output, ProviderStatus
from jobcourier.pacing import Pacing
from jobcourier.ports import ProviderApi
from jobcourier.providers.base import direct_url, raise_for_status
from jobcourier.text import shorten

log = logging.getLogger(__name__)

name = "spacely"
default_base_url = "https://api.spacely.ai"
pacing = Pacing(
    first_check_s=30.0,
    min_interval_s=5.0,
    max_interval_s=60.0,
    factor=1.5,
    jitter=0.1,
    default_deadline_s=3 * 3600.0,
    target_lag_s=45.0,
)

webhook_job_id = None  # Spacely does not call back
resolve_url = direct_url

STATUSES = {
    "processing": ProviderStatus.PENDING,
    "pending": ProviderStatus.PENDING,
    "queued": ProviderStatus.PENDING,
    "success": ProviderStatus.SUCCEEDED,
    "failed": ProviderStatus.FAILED,
    "error": ProviderStatus.FAILED,
}


def auth_headers(api_key: str) -> dict[str, str]:
    return {"X-API-KEY": api_key}


def check(api: ProviderApi, job_id: str) -> Observation:
    response = api.get("/api/v1/generate/poll-result", {"refId": job_id})
    raise_for_status(response, not_found=frozenset({400, 404}))
    body = response.json()
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, dict) or not isinstance(data.get("status"), str):
        raise ProviderProtocolError("expected {'data': {'status': ...}} from Spacely")
    raw = shorten(data["status"])
    status = STATUSES.get(raw.lower(), ProviderStatus.UNKNOWN)
    if status is not ProviderStatus.SUCCEEDED:
        return Observation(status, raw, message=_message(data))
    urls = data.get("result")
    if not isinstance(urls, list) or not all(isinstance(u, str) and u for u in urls):
        raise ProviderProtocolError("expected 'result' to be a list of URLs on success")
    if not urls:
        return Observation(
            ProviderStatus.FAILED, raw, message="Spacely reported success with no result"
        )
    return Observation(status, raw, outputs=tuple(Output(url=u) for u in urls))


def _message(data: dict[str, object]) -> str | None:
    for field_name in ("message", "error", "reason"):
        value = data.get(field_name)
        if isinstance(value, str) and value:
            return shorten(value)
    return None
