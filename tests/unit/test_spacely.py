"""Spacely's documented answers (docs/providers.md#spacely) mapped to canonical outcomes."""

from __future__ import annotations

import pytest

from jobcourier.errors import (
    JobNotFound,
    ProviderAuthError,
    ProviderProtocolError,
    ProviderTransient,
)
from jobcourier.model import ProviderStatus
from jobcourier.providers import spacely
from tests.fakes import ScriptedApi, json_answer

SEED_SUCCESS = {
    "data": {
        "status": "success",
        "result": [
            "https://storage.googleapis.com/spacely-enterprise/c18302f5-a9de-422d-000/ea6abee1-ed4b-4ca8-994e-2c215150bf9e-1.png",
            "https://storage.googleapis.com/spacely-enterprise/c18302f5-a9de-422d-000/ea6abee1-ed4b-4ca8-994e-2c215150bf9e-2.png",
            "https://storage.googleapis.com/spacely-enterprise/c18302f5-a9de-422d-000/ea6abee1-ed4b-4ca8-994e-2c215150bf9e-3.png",
            "https://storage.googleapis.com/spacely-enterprise/c18302f5-a9de-422d-000/ea6abee1-ed4b-4ca8-994e-2c215150bf9e-4.png",
        ],
    }
}
SEED_PROCESSING = {"data": {"status": "processing", "result": []}}


@pytest.mark.parametrize(
    ("body", "status", "outputs"),
    [
        (SEED_SUCCESS, ProviderStatus.SUCCEEDED, 4),  # [doc]
        (SEED_PROCESSING, ProviderStatus.PENDING, 0),  # [doc]
        ({"data": {"status": "failed", "result": []}}, ProviderStatus.FAILED, 0),  # [code]
        (
            {"data": {"status": "Success", "result": ["https://x/1.png"]}},
            ProviderStatus.SUCCEEDED,
            1,
        ),
        (
            {"data": {"status": "upscaling", "result": []}},
            ProviderStatus.UNKNOWN,
            0,
        ),  # nobody modelled
        (
            {"data": {"status": "success", "result": []}},
            ProviderStatus.FAILED,
            0,
        ),  # success, nothing
    ],
)
def test_documented_answers_map_to_canonical_statuses(body, status, outputs):
    seen = spacely.check(ScriptedApi([json_answer(body)]), "ref")
    assert seen.status is status
    assert len(seen.outputs) == outputs
    assert seen.raw_status == body["data"]["status"]


def test_the_check_asks_the_documented_endpoint_with_the_ref_id():
    api = ScriptedApi([json_answer(SEED_PROCESSING)])
    spacely.check(api, "068e3933-4aeb-4b4d-a473-9f8fa9f2d20a")
    assert api.calls == [
        ("/api/v1/generate/poll-result", {"refId": "068e3933-4aeb-4b4d-a473-9f8fa9f2d20a"})
    ]
    assert spacely.auth_headers("k") == {"X-API-KEY": "k"}


@pytest.mark.parametrize(
    ("code", "error"),
    [
        (400, JobNotFound),  # [doc] 400 = not found
        (404, JobNotFound),
        (401, ProviderAuthError),  # [doc]
        (403, ProviderAuthError),
        (500, ProviderTransient),  # [doc]
        (502, ProviderTransient),
        (429, ProviderTransient),
        (418, ProviderProtocolError),
    ],
)
def test_http_errors_are_classified(code, error):
    with pytest.raises(error):
        spacely.check(ScriptedApi([json_answer({}, status=code)]), "ref")


@pytest.mark.parametrize(
    "body",
    [
        b"<html>gateway</html>",
        b'{"data": null}',
        b'{"data": {"status": 3}}',
        b'{"data": {"status": "success", "result": "https://x/1.png"}}',
        b'{"data": {"status": "success", "result": [null]}}',
    ],
)
def test_unreadable_answers_are_protocol_errors_never_outcomes(body):
    from jobcourier.ports import ApiResponse

    with pytest.raises(ProviderProtocolError):
        spacely.check(ScriptedApi([ApiResponse(200, body)]), "ref")


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("120", 120.0), ("0", 0.0), ("-5", 0.0), ("soon", None)],
)
def test_retry_after_is_read_from_429_and_503(header, seconds):
    api = ScriptedApi([json_answer({}, status=429, headers={"Retry-After": header})])
    with pytest.raises(ProviderTransient) as caught:
        spacely.check(api, "ref")
    assert caught.value.retry_after_s == seconds


def test_retry_after_as_an_http_date():
    api = ScriptedApi(
        [json_answer({}, status=503, headers={"retry-after": "Wed, 21 Oct 2099 07:28:00 GMT"})]
    )
    with pytest.raises(ProviderTransient) as caught:
        spacely.check(api, "ref")
    assert caught.value.retry_after_s is not None and caught.value.retry_after_s > 3600
