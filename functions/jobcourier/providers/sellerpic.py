"""SellerPic (docs/providers.md#sellerpic): GET /v1/api/generate?id=TASK_ID with a Bearer key.

{"code": 0, "data": {"resultList": [{"id", "fileUrl", "status", "errorCode", "errorMsg"}]},
"msg", "success", "traceId"}: code 0 is ok; 30003 is the account's concurrency ceiling
(transient). Items go CREATED/RUNNING -> SUCCESS/FAILED and may settle differently (partial).
Each SUCCESS item is fetched through GET /v1/api/download?id=ITEM_ID&downloadFormat=...,
whose link lives 12 hours: it is asked for at delivery time, and again after a 403.
Checks of one task must be at least 60 s apart.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from jobcourier.errors import ProviderProtocolError, ProviderTransient
from jobcourier.model import Observation, Output, ProviderStatus
from jobcourier.pacing import Pacing
from jobcourier.ports import ProviderApi
from jobcourier.providers.base import raise_for_status
from jobcourier.text import shorten

name = "sellerpic"
default_base_url = "https://api.sellerpic.ai"
pacing = Pacing(
    first_check_s=60.0,
    min_interval_s=60.0,
    max_interval_s=300.0,
    factor=1.5,
    jitter=0.1,
    default_deadline_s=3 * 3600.0,
    # below the 60 s between checks the target moves only the first check and the tail: 45 s
    # keeps the first check early enough that its fastest jobs do not add to the 60 s rule
    target_lag_s=45.0,
)
webhook_job_id = None  # SellerPic does not call back

CONCURRENCY_CEILING = 30003
RUNNING = frozenset({"CREATED", "RUNNING"})
VIDEO_EXTENSIONS = frozenset({".mp4", ".mov", ".webm", ".gif"})


def auth_headers(api_key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"}


def check(api: ProviderApi, job_id: str) -> Observation:
    data = _data(api, "/v1/api/generate", {"id": job_id})
    items = data.get("resultList")
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise ProviderProtocolError("expected data.resultList to be a list of items")
    statuses = [str(item.get("status", "")).upper() for item in items]
    raw = shorten(",".join(statuses)) or "EMPTY"
    if not items or any(s in RUNNING for s in statuses):
        return Observation(ProviderStatus.PENDING, raw)
    if any(s not in ("SUCCESS", "FAILED") for s in statuses):
        return Observation(ProviderStatus.UNKNOWN, raw)
    outputs = tuple(_output(item) for item in items)
    failed = sum(1 for o in outputs if o.error is not None)
    if failed == len(outputs):
        return Observation(
            ProviderStatus.FAILED,
            raw,
            outputs=outputs,
            message=shorten("; ".join(o.error or "" for o in outputs)),
        )
    return Observation(
        ProviderStatus.PARTIAL if failed else ProviderStatus.SUCCEEDED, raw, outputs=outputs
    )


def resolve_url(api: ProviderApi, output: Output) -> str:
    """A fresh download link for one SUCCESS item, in the format that matches the output."""
    if output.item_id is None:
        raise ProviderProtocolError("a SellerPic output without an item id")
    params = {"id": output.item_id, "downloadFormat": download_format(output.url), "uhd": "false"}
    data = _data(api, "/v1/api/download", params)
    url = data.get("fileUrl")
    if not isinstance(url, str) or not url:
        raise ProviderTransient(
            shorten(
                f"no download link for item {output.item_id} yet "
                f"({data.get('status')!r}: {data.get('errorMsg')!r})"
            )
        )
    return url


def download_format(preview_url: str | None) -> str:
    suffix = posixpath.splitext(urlsplit(preview_url or "").path)[1].lower()
    return "mp4" if suffix in VIDEO_EXTENSIONS else "png"


def _data(api: ProviderApi, path: str, params: Mapping[str, str]) -> dict[str, Any]:
    response = api.get(path, params)
    raise_for_status(response, not_found=frozenset({404}))
    body = response.json()
    if not isinstance(body, dict) or not isinstance(body.get("code"), int):
        raise ProviderProtocolError("expected {'code': int, 'data': ...} from SellerPic")
    if body["code"] == CONCURRENCY_CEILING:
        raise ProviderTransient("SellerPic concurrency ceiling reached (30003)")
    if body["code"] != 0:
        raise ProviderProtocolError(
            shorten(f"SellerPic answered code {body['code']}: {body.get('msg')}")
        )
    data = body.get("data")
    if not isinstance(data, dict):
        raise ProviderProtocolError("expected a 'data' object from SellerPic")
    return data


def _output(item: dict[str, Any]) -> Output:
    item_id = item.get("id")
    item_id = None if item_id is None else str(item_id)
    preview = item.get("fileUrl") if isinstance(item.get("fileUrl"), str) else None
    if str(item.get("status", "")).upper() == "FAILED":
        reason = item.get("errorMsg") or f"error code {item.get('errorCode')}"
        return Output(
            url=preview,
            error=shorten(f"SellerPic item {item_id} failed: {reason}"),
            item_id=item_id,
        )
    return Output(url=preview, item_id=item_id)
