"""The one place errors become HTTP answers: no exception text, key or signed URL leaks."""

from __future__ import annotations

import flask
import pytest

from jobcourier import routes
from jobcourier.errors import ConfigurationError, InfrastructureError

app = flask.Flask(__name__)


def answer(error: Exception, path: str = "/jobs", method: str = "POST") -> flask.Response:
    def courier():
        raise error

    with app.test_request_context(path, method=method, json={"provider": "spacely"}):
        return routes.handle(flask.request, courier)


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
    for method, path in (("GET", "/"), ("GET", "/poll"), ("DELETE", "/jobs/spacely/x"),
                         ("POST", "/jobs/spacely")):
        with app.test_request_context(path, method=method):
            response = routes.handle(flask.request, lambda: None)  # type: ignore[arg-type,return-value]
        assert response.status_code == 404, (method, path)


def test_an_oversized_body_is_refused():
    with app.test_request_context("/jobs", method="POST", data=b"{" + b" " * 70_000 + b"}",
                                  content_type="application/json"):
        response = routes.handle(flask.request, lambda: None)  # type: ignore[arg-type,return-value]
    assert response.status_code == 400 and "at most 65536 bytes" in response.get_json()["error"]
