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
from jobcourier.model import Answer, CallbackTask, JobKey, Manifest
from jobcourier.ports import CallbackSender, Scheduler, Store

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


class Callbacks:
    """`POST /poll` with a callback task: one attempt, for the manifest it announces."""

    def __init__(
        self,
        *,
        secret: bytes | None,
        store: Callable[[], Store],
        sender: Callable[[], CallbackSender],
        scheduler: Callable[[], Scheduler],
        clock: Callable[[], datetime],
        scaled: Callable[[timedelta], timedelta],
    ) -> None:
        self.secret = secret
        self._store = store
        self._sender = sender
        self._scheduler = scheduler
        self._clock = clock
        self._scaled = scaled

    def deliver(self, task: CallbackTask) -> Answer:
        logsafe.set_job(task.key.provider, task.key.job_id)
        if self.secret is None:
            log.error("a callback is due but JOBCOURIER_CALLBACK_SECRET is not set: dropped")
            return Answer(200, {"outcome": "dropped"})
        manifest = self._store().read_manifest(task.key)
        if manifest is None or manifest.generation != task.generation:
            log.info("%s: the manifest this callback announced was replaced", task.key.folder)
            return Answer(200, {"outcome": "superseded"})
        outcome = attempt(
            task,
            manifest,
            secret=self.secret,
            sender=self._sender(),
            scheduler=self._scheduler(),
            clock=self._clock,
            scaled=self._scaled,
        )
        return Answer(200, {"outcome": outcome})

    def check_url(self, url: str) -> None:
        """Before a submission is accepted: callbacks must be possible, and to that URL."""
        if self.secret is None:
            raise ConfigurationError(
                "callback_url needs JOBCOURIER_CALLBACK_SECRET, which this deployment does not "
                "set: submit without callback_url, or ask its operator"
            )
        self._sender().check(url)


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
