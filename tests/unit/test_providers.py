"""Gepetto, SellerPic and Fliki: documented payloads (docs/providers.md) mapped to
canonical outcomes. [doc] documented, [code] seen in public clients, [guess] our choice."""

from __future__ import annotations

from typing import Any

import pytest

from jobcourier.errors import (
    BadRequest,
    JobNotFound,
    ProviderAuthError,
    ProviderProtocolError,
    ProviderTransient,
)
from jobcourier.model import Output, ProviderStatus
from jobcourier.providers import fliki, gepetto, sellerpic
from tests.fakes import ScriptedApi, json_answer

# -- Gepetto -----------------------------------------------------------------------------------
GEPETTO_DONE = {
    "status": "success",
    "output": "https://cdn.gepetto.test/out.png",
    "mode": "furnish",
    "createdAt": "2023-09-29T13:17:21.774Z",
}


@pytest.mark.parametrize(
    ("body", "status", "outputs"),
    [
        (GEPETTO_DONE, ProviderStatus.SUCCEEDED, 1),  # [doc]
        (
            {"status": "pending", "id": "j1"},
            ProviderStatus.PENDING,
            0,
        ),  # [doc] created with a webhook
        ({"status": "failed", "error": "model crashed"}, ProviderStatus.FAILED, 0),  # [guess]
        ({"status": "error"}, ProviderStatus.FAILED, 0),  # [guess]
        ({"status": "canceled"}, ProviderStatus.FAILED, 0),  # [guess]
        ({"status": "warming-up"}, ProviderStatus.UNKNOWN, 0),  # nobody modelled: keep checking
    ],
)
def test_gepetto_answers(body, status, outputs):
    api = ScriptedApi([json_answer(body)])
    seen = gepetto.check(api, "job/1")
    assert seen.status is status and len(seen.outputs) == outputs
    assert api.calls == [("/v1/job/job%2F1", {})]  # the id is one path segment, quoted


@pytest.mark.parametrize(
    ("code", "error"),
    [(400, JobNotFound), (404, JobNotFound), (401, ProviderAuthError), (500, ProviderTransient)],
)
def test_gepetto_documented_errors(code, error):  # [doc] 400, 401, 500
    with pytest.raises(error):
        gepetto.check(ScriptedApi([json_answer({}, code)]), "j1")


def test_gepetto_success_without_an_output_is_not_a_result():
    with pytest.raises(ProviderProtocolError):
        gepetto.check(ScriptedApi([json_answer({"status": "success"})]), "j1")


def test_gepetto_webhook_body():  # [doc] {"id": ..., "output": ...}
    assert gepetto.webhook_job_id({"id": "j1", "output": "https://x/y.png"}) == "j1"
    for bad in ({}, {"id": 3}, {"id": ""}, ["j1"]):
        with pytest.raises(BadRequest):
            gepetto.webhook_job_id(bad)


# -- SellerPic ---------------------------------------------------------------------------------
def sp(items: list[dict[str, Any]], code: int = 0) -> dict[str, Any]:
    return {
        "code": code,
        "data": {"resultList": items},
        "msg": "ok",
        "success": code == 0,
        "traceId": "t",
    }


def item(
    status: str, n: int = 1, url: str = "https://cdn.sellerpic.test/p.png", **extra
) -> dict[str, Any]:
    return {
        "id": 900 + n,
        "fileUrl": url,
        "status": status,
        "errorCode": 0,
        "errorMsg": "",
        **extra,
    }


@pytest.mark.parametrize(
    ("items", "status", "failed_outputs"),
    [
        ([item("CREATED")], ProviderStatus.PENDING, 0),  # [doc]
        ([item("RUNNING"), item("SUCCESS", 2)], ProviderStatus.PENDING, 0),  # not all settled
        ([item("SUCCESS", n) for n in range(4)], ProviderStatus.SUCCEEDED, 0),  # try-on: 4 images
        ([item("SUCCESS"), item("FAILED", 2, errorMsg="pose")], ProviderStatus.PARTIAL, 1),  # [doc]
        ([item("FAILED"), item("FAILED", 2)], ProviderStatus.FAILED, 2),
        ([], ProviderStatus.PENDING, 0),  # nothing yet
        ([item("QUEUED_FOR_GPU")], ProviderStatus.UNKNOWN, 0),
    ],
)
def test_sellerpic_items_settle_together(items, status, failed_outputs):
    seen = sellerpic.check(ScriptedApi([json_answer(sp(items))]), "1234567890123")
    assert seen.status is status
    assert sum(1 for o in seen.outputs if o.error) == failed_outputs
    assert all(o.item_id for o in seen.outputs)


def test_sellerpic_concurrency_ceiling_is_transient_other_codes_are_not_results():
    with pytest.raises(ProviderTransient, match="30003"):
        sellerpic.check(ScriptedApi([json_answer(sp([], code=30003))]), "1")
    with pytest.raises(ProviderProtocolError, match="code 40001"):
        sellerpic.check(ScriptedApi([json_answer(sp([], code=40001))]), "1")
    with pytest.raises(JobNotFound):  # [doc] 404 Record Not Found
        sellerpic.check(ScriptedApi([json_answer({}, 404)]), "1")


@pytest.mark.parametrize(
    ("preview", "fmt"),
    [
        ("https://x/a.png", "png"),
        ("https://x/a.MP4?sig=1", "mp4"),
        (None, "png"),
        ("https://x/a.gif", "mp4"),
    ],
)
def test_sellerpic_download_asks_for_the_format_of_the_output(preview, fmt):
    api = ScriptedApi(
        [
            json_answer(
                {
                    "code": 0,
                    "data": {"name": "a", "status": "SUCCESS", "fileUrl": "https://dl.test/a"},
                }
            )
        ]
    )
    url = sellerpic.resolve_url(api, Output(url=preview, item_id="901"))
    assert url == "https://dl.test/a"
    assert api.calls == [("/v1/api/download", {"id": "901", "downloadFormat": fmt, "uhd": "false"})]


def test_sellerpic_download_without_a_link_is_retried():
    api = ScriptedApi([json_answer({"code": 0, "data": {"status": "PROCESSING"}})])
    with pytest.raises(ProviderTransient):
        sellerpic.resolve_url(api, Output(url=None, item_id="901"))


# -- Fliki -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "status", "progress"),
    [
        ({"fileId": "f", "status": "queued"}, ProviderStatus.PENDING, None),  # [code]
        (
            {"fileId": "f", "status": "processing", "progress": 42},
            ProviderStatus.PENDING,
            0.42,
        ),  # [doc]
        ({"fileId": "f", "status": "processing", "progress": 140}, ProviderStatus.PENDING, 1.0),
        ({"fileId": "f", "status": "processing", "progress": "half"}, ProviderStatus.PENDING, None),
        (
            {"fileId": "f", "status": "success", "download": "https://f.test/v.mp4"},
            ProviderStatus.SUCCEEDED,
            1.0,
        ),  # [code]
        ({"fileId": "f", "status": "error"}, ProviderStatus.FAILED, None),  # [code]
        ({"fileId": "f", "status": "canceled"}, ProviderStatus.FAILED, None),  # [code]
        ({"fileId": "f", "status": "exporting", "progress": 90}, ProviderStatus.UNKNOWN, 0.9),
    ],
)
def test_fliki_answers(body, status, progress):
    api = ScriptedApi([json_answer(body)])
    seen = fliki.check(api, "f")
    assert seen.status is status and seen.progress == progress
    assert api.calls == [("/v1/generate/status", {"fileId": "f"})]


def test_fliki_success_without_a_download_is_not_a_result():
    with pytest.raises(ProviderProtocolError):
        fliki.check(ScriptedApi([json_answer({"status": "success"})]), "f")


def test_fliki_webhook_body():  # [doc] {"success": bool, "data": {"id", "file"}}
    body = {"success": True, "data": {"id": "f1", "file": "https://f.test/v.mp4"}}
    assert fliki.webhook_job_id(body) == "f1"
    with pytest.raises(BadRequest):
        fliki.webhook_job_id({"success": True, "id": "f1"})


@pytest.mark.parametrize("provider", [gepetto, sellerpic, fliki])
def test_bearer_keys(provider):
    assert provider.auth_headers("k") == {"Authorization": "Bearer k"}
