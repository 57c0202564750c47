"""The one place errors become HTTP answers: no exception text, key or signed URL leaks."""

from __future__ import annotations

import flask
import pytest

from jobcourier import routes
from jobcourier.errors import ConfigurationError, InfrastructureError

app = flask.Flask(__name__)


def NO_COURIER():  # noqa: N802 - a stand-in that must never be reached
    raise AssertionError("the courier was built for a request refused before routing")


def answer(error: Exception, path: str = "/jobs", method: str = "POST") -> flask.Response:
    def courier():
        raise error

    with app.test_request_context(path, method=method, json={"provider": "spacely"}):
        return routes.handle(flask.request, courier, routes.Access)


def test_an_unexpected_error_answers_500_without_its_text(caplog):
    leaky = RuntimeError("GET https://x.test/o.png?X-Goog-Signature=abc with key sk-live-9")
    response = answer(leaky)
    assert response.status_code == 500 and response.get_json() == {"error": "internal error"}


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (InfrastructureError("GCS read failed: ServiceUnavailable"), 503),
        (ConfigurationError("environment variable JOBCOURIER_BUCKET is required"), 500),
    ],
)
def test_errors_map_to_their_answers(error, status):
    response = answer(error)
    assert response.status_code == status and response.get_json()["error"] == str(error)


def test_unknown_routes_are_404():
    for method, path in (
        ("GET", "/"),
        ("GET", "/poll"),
        ("DELETE", "/jobs/spacely/x"),
        ("POST", "/jobs/spacely"),
    ):
        with app.test_request_context(path, method=method):
            response = routes.handle(flask.request, NO_COURIER, routes.Access)
        assert response.status_code == 404, (method, path)


def test_an_oversized_body_is_refused():
    with app.test_request_context(
        "/jobs", method="POST", data=b"{" + b" " * 70_000 + b"}", content_type="application/json"
    ):
        response = routes.handle(flask.request, NO_COURIER, routes.Access)
    assert response.status_code == 400 and "at most 65536 bytes" in response.get_json()["error"]


class Recorder:
    """A courier stand-in that records webhook calls."""

    providers = ("gepetto",)

    def __init__(self) -> None:
        self.webhooks: list[tuple[str, object]] = []

    def webhook(self, provider, body):
        from jobcourier.model import Answer

        self.webhooks.append((provider, body))
        return Answer(202, {"outcome": "check_scheduled"})


def webhook(path: str, access: routes.Access, recorder: Recorder) -> flask.Response:
    with app.test_request_context(path, method="POST", json={"id": "g-1"}):
        return routes.handle(flask.request, lambda: recorder, lambda: access)  # type: ignore[arg-type,return-value]


def test_a_configured_token_is_required_on_webhooks():
    access, recorder = routes.Access(webhook_token="s3cret-token"), Recorder()
    assert webhook("/webhooks/gepetto", access, recorder).status_code == 401
    assert webhook("/webhooks/gepetto?token=wrong", access, recorder).status_code == 401
    assert recorder.webhooks == []
    assert webhook("/webhooks/gepetto?token=s3cret-token", access, recorder).status_code == 202
    assert recorder.webhooks == [("gepetto", {"id": "g-1"})]


def test_a_webhooks_only_instance_serves_nothing_else():
    access = routes.Access(webhooks_only=True)
    for method, path in (("POST", "/jobs"), ("POST", "/poll"), ("GET", "/jobs/spacely/x")):
        with app.test_request_context(path, method=method, json={}):
            response = routes.handle(flask.request, NO_COURIER, lambda: access)
        assert response.status_code == 404, (method, path)
    assert webhook("/webhooks/gepetto", access, Recorder()).status_code == 202
