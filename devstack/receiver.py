"""A caller's endpoint for jobcourier's completion callbacks: verifies each one's Standard
Webhooks signature (its own code, not the function's), keeps what arrived, and can be told to
fail a number of times first."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass
from typing import Any

from werkzeug.routing import Rule
from werkzeug.wrappers import Request, Response

from devstack.fakes.server import FakeServer

TOLERANCE_S = 300  # the specification's suggested window against replays


@dataclass(frozen=True)
class Delivery:
    webhook_id: str
    timestamp: int
    verified: bool
    status: int  # what the receiver answered
    body: dict[str, Any]


def verify(secret: str, headers: dict[str, str], body: bytes, *, now: float) -> bool:
    """Standard Webhooks verification, as a receiver does it."""
    try:
        key = base64.b64decode(secret.removeprefix("whsec_"))
        msg_id, stamp = headers["webhook-id"], headers["webhook-timestamp"]
        signatures = headers["webhook-signature"].split()
        if abs(now - int(stamp)) > TOLERANCE_S:
            return False
    except (KeyError, ValueError):
        return False
    signed = f"{msg_id}.{stamp}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return any(
        version == "v1" and hmac.compare_digest(value, expected)
        for version, _, value in (s.partition(",") for s in signatures)
    )


class CallbackReceiver(FakeServer):
    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.deliveries: dict[str, list[Delivery]] = {}
        self.failures: dict[str, list[int]] = {}  # name -> statuses to answer first
        self._received = threading.Condition()
        super().__init__()

    def rules(self) -> list[Rule]:
        return [Rule("/callbacks/<name>", endpoint="callback", methods=["POST"])]

    def url_for(self, name: str, *, fail_first: list[int] | None = None) -> str:
        self.failures[name] = list(fail_first or [])
        return f"{self.url}/callbacks/{name}"

    def callback(self, request: Request, name: str) -> Response:
        body = request.get_data()
        headers = {k.lower(): v for k, v in request.headers.items()}
        verified = verify(self.secret, headers, body, now=time.time())
        failures = self.failures.get(name, [])
        status = failures.pop(0) if failures else (200 if verified else 401)
        delivery = Delivery(
            webhook_id=headers.get("webhook-id", ""),
            timestamp=int(headers.get("webhook-timestamp", "0") or 0),
            verified=verified,
            status=status,
            body=json.loads(body or b"{}"),
        )
        with self._received:
            self.deliveries.setdefault(name, []).append(delivery)
            self._received.notify_all()
        return Response(status=status)

    def wait_for(self, name: str, count: int = 1, timeout_s: float = 30) -> list[Delivery]:
        """The first `count` deliveries to `name`, waiting for them."""
        with self._received:
            self._received.wait_for(
                lambda: len(self.deliveries.get(name, [])) >= count, timeout=timeout_s
            )
            got = list(self.deliveries.get(name, []))
        if len(got) < count:
            raise TimeoutError(f"{len(got)} callbacks to {name}, expected {count}")
        return got
