"""Fliki (docs/providers.md#fliki): GET /v1/generate/status?fileId=ID with a Bearer key.

{"fileId", "status", "progress"?, "download"?}. The status words are not listed: public
clients treat "success" with a download as done, "error" and "canceled" as failed, and a
queued state and "processing" before. Checks must back off exponentially (or every later
call fails); production is meant to use the webhook, {"success": bool, "data": {"id", "file"}},
which here only prompts a status check. Files are deleted three hours after generation, and
are videos or audio: the copy streams.
"""

from __future__ import annotations

from typing import Any

from jobcourier.errors import BadRequest, ProviderProtocolError
from jobcourier.model import Observation, Output, ProviderStatus
from jobcourier.pacing import Pacing
from jobcourier.ports import ProviderApi
from jobcourier.providers.base import direct_url, raise_for_status
from jobcourier.text import shorten

name = "fliki"
default_base_url = "https://api.fliki.ai"
pacing = Pacing(
    # videos take minutes: a blind check at 30 s found none done (the policy waits no longer
    # than the 55 s target while nothing is known)
    first_check_s=60.0,
    min_interval_s=15.0,
    max_interval_s=300.0,
    factor=2.0,
    jitter=0.1,
    # Waiting for generation; the copy follows within one check interval, far inside the
    # three hours before Fliki deletes the file.
    default_deadline_s=2 * 3600.0,
    target_lag_s=55.0,
)
resolve_url = direct_url

STATUSES = {
    "queued": ProviderStatus.PENDING,
    "pending": ProviderStatus.PENDING,
    "waiting": ProviderStatus.PENDING,
    "processing": ProviderStatus.PENDING,
    "in_progress": ProviderStatus.PENDING,
    "rendering": ProviderStatus.PENDING,
    "success": ProviderStatus.SUCCEEDED,
    "completed": ProviderStatus.SUCCEEDED,
    "error": ProviderStatus.FAILED,
    "failed": ProviderStatus.FAILED,
    "canceled": ProviderStatus.FAILED,
    "cancelled": ProviderStatus.FAILED,
}


def auth_headers(api_key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"}


def check(api: ProviderApi, job_id: str) -> Observation:
    response = api.get("/v1/generate/status", {"fileId": job_id})
    raise_for_status(response, not_found=frozenset({400, 404}))
    body = response.json()
    if not isinstance(body, dict) or not isinstance(body.get("status"), str):
        raise ProviderProtocolError("expected {'status': ...} from Fliki")
    raw = shorten(body["status"])
    status = STATUSES.get(raw.lower(), ProviderStatus.UNKNOWN)
    if status is ProviderStatus.SUCCEEDED:
        download = body.get("download")
        if not isinstance(download, str) or not download:
            raise ProviderProtocolError("Fliki reported success without a download URL")
        return Observation(status, raw, outputs=(Output(url=download),), progress=1.0)
    if status is ProviderStatus.FAILED:
        return Observation(status, raw, message=f"Fliki reported {raw!r}")
    return Observation(status, raw, progress=_fraction(body.get("progress")))


def webhook_job_id(body: Any) -> str:
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, dict) or not isinstance(data.get("id"), str) or not data["id"]:
        raise BadRequest('a Fliki webhook body must be {"success": ..., "data": {"id": "..."}}')
    return str(data["id"])


def _fraction(progress: Any) -> float | None:
    """Fliki reports a percentage; the scheduler wants a fraction."""
    if isinstance(progress, bool) or not isinstance(progress, int | float):
        return None
    return min(max(float(progress) / 100.0, 0.0), 1.0)
