"""Signed completion callbacks (docs/contract.md#callbacks), as Standard Webhooks specifies.

Each attempt POSTs `{"type": "job.settled", "data": <manifest>}` with the headers
`webhook-id` (the same on every attempt), `webhook-timestamp` (Unix seconds, this attempt) and
`webhook-signature` (`v1,` + base64 HMAC-SHA256 over "{id}.{timestamp}.{body}", keyed with
the base64-decoded part of the secret after `whsec_`). A failure (no answer, or anything but
2xx) schedules the next attempt as a task, with backoff, for CALLBACK_PATIENCE; then the
callback is given up, at ERROR. Nothing here ever changes the manifest.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta

from jobcourier import logsafe
from jobcourier.errors import ConfigurationError, DownloadError
from jobcourier.limits import CALLBACK_FIRST_RETRY, CALLBACK_MAX_RETRY, CALLBACK_PATIENCE
from jobcourier.model import CallbackTask, JobKey, Manifest
from jobcourier.ports import CallbackSender, Scheduler

log = logging.getLogger(__name__)

SECRET_PREFIX = "whsec_"  # noqa: S105 - the format's prefix, not a secret


def parse_secret(value: str, *, source: str) -> bytes:
    """The HMAC key of a `whsec_<base64>` secret."""
    text = value.strip()
    if not text.startswith(SECRET_PREFIX):
        raise ConfigurationError(f"{source} must start with {SECRET_PREFIX!r}. Found: another form")
    try:
        key = base64.b64decode(text[len(SECRET_PREFIX) :], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ConfigurationError(f"{source} must be {SECRET_PREFIX}<base64>. Found: {exc}") from exc
    if len(key) < 24:
        raise ConfigurationError(f"{source} must hold at least 24 bytes. Found: {len(key)}")
    return key


def sign(key: bytes, webhook_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def webhook_id(key: JobKey, chain: str) -> str:
    """One id per settled chain of a job: the receiver's idempotency key."""
    digest = hashlib.sha256(f"{key.provider}\0{key.job_id}\0{chain}".encode()).hexdigest()
    return f"msg_{digest[:32]}"


def body(manifest: Manifest) -> bytes:
    return json.dumps({"type": "job.settled", "data": manifest.to_json()}).encode()


def attempt(
    task: CallbackTask,
    manifest: Manifest,
    *,
    secret: bytes,
    sender: CallbackSender,
    scheduler: Scheduler,
    clock: Callable[[], datetime],
    scaled: Callable[[timedelta], timedelta],
) -> str:
    """One attempt; the outcome: delivered, retrying or failed."""
    now = clock()
    timestamp = int(now.timestamp())
    payload = body(manifest)
    headers = {
        "Content-Type": "application/json",
        "webhook-id": task.webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, task.webhook_id, timestamp, payload),
    }
    status: int | None = None
    try:
        status = sender.post(task.url, payload, headers)
    except DownloadError as exc:
        reason = str(exc)
    else:
        reason = f"HTTP {status}"
    if status is not None and 200 <= status < 300:
        logsafe.event(
            log,
            "callback_delivered",
            "callback delivered on attempt %d",
            task.attempt,
            attempt=task.attempt,
            http_status=status,
        )
        return "delivered"
    delay = min(CALLBACK_FIRST_RETRY * 2 ** min(task.attempt - 1, 20), CALLBACK_MAX_RETRY)
    at = now + scaled(delay)
    final = at > task.first_at + scaled(CALLBACK_PATIENCE)
    logsafe.event(
        log,
        "callback_failed",
        "callback attempt %d failed (%s)%s",
        task.attempt,
        reason,
        "; giving up" if final else "",
        level=logging.ERROR if final else logging.WARNING,
        attempt=task.attempt,
        http_status=status,
        final=final,
    )
    if final:
        return "failed"
    following = replace(task, attempt=task.attempt + 1)
    scheduler.schedule(None, following.task_id, following.to_bytes(), at)
    return "retrying"
