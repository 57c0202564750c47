"""The client against a stand-in function on 127.0.0.1 (tests/fake_function.py) that answers as
docs/contract.md says; ID tokens through an injected token source, and through google-auth's own
service account flow against a local token endpoint."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth import jwt

from jobcourier.client import (
    Client,
    ClientError,
    Conflict,
    ConnectionFailed,
    CredentialsMissing,
    GoogleIdTokens,
    HttpError,
    JobAnswer,
    NotFound,
    UnexpectedAnswer,
    UsageError,
    WaitTimedOut,
    is_loopback,
)
from tests.fake_function import REMOTE, FakeFunction, RecordingTokens, manifest, rerouted


@pytest.fixture
def client(fake: FakeFunction) -> Client:
    return Client(fake.url, token_source=RecordingTokens())


# -- submit, status, cancel, replay ----------------------------------------------------------
def test_submit_sends_only_the_fields_given(client: Client, fake: FakeFunction):
    answer = client.submit("spacely", "job-1")
    assert fake.requests_to("POST", "/jobs")[-1].body == {"provider": "spacely", "job_id": "job-1"}
    assert answer.http_status == 202 and answer.state == "pending"
    assert not answer.settled and not answer.succeeded and answer.manifest is None
    assert answer.deadline_at == "2026-11-22T13:00:00Z"

    client.submit(
        "spacely",
        "job-2",
        deadline_seconds=600,
        labels={"order": "A-17"},
        callback_url="https://hooks.test/settled",
    )
    assert fake.requests_to("POST", "/jobs")[-1].body == {
        "provider": "spacely",
        "job_id": "job-2",
        "deadline_seconds": 600,
        "labels": {"order": "A-17"},
        "callback_url": "https://hooks.test/settled",
    }
    assert isinstance(fake.requests_to("POST", "/jobs")[-1].body["deadline_seconds"], int)


def test_a_second_submission_is_a_duplicate_and_a_settled_job_answers_its_manifest(
    client: Client, fake: FakeFunction
):
    client.submit("spacely", "job-1")
    assert client.submit("spacely", "job-1").duplicate is True
    fake.add("spacely", "done", manifest=manifest("spacely", "done", "succeeded", sizes=(10, 20)))
    answer = client.submit("spacely", "done")
    assert answer.http_status == 200 and answer.settled and answer.succeeded
    assert answer.manifest is not None and [f.name for f in answer.manifest.files] == [
        "00.png",
        "01.png",
    ]
    assert answer.manifest.total_bytes == 30


def test_status_reads_the_manifest_and_quotes_the_job_id(client: Client, fake: FakeFunction):
    odd = "a b?c#d%e"
    fake.add("spacely", odd, manifest=manifest("spacely", odd, "partial", sizes=(5,)))
    answer = client.status("spacely", odd)
    assert fake.seen[-1].path == "/jobs/spacely/a%20b%3Fc%23d%25e"
    assert answer.state == "partial" and answer.settled and not answer.succeeded
    assert answer.manifest is not None and answer.manifest.error is not None
    assert answer.manifest.error.code == "provider_failed"
    assert answer.raw == {"state": "partial", "manifest": fake.jobs[("spacely", odd)].manifest}


def test_an_unknown_job_is_not_found_with_the_functions_message(client: Client):
    with pytest.raises(NotFound) as caught:
        client.status("spacely", "never")
    assert caught.value.status == 404
    assert caught.value.message == "no job 'never' was submitted for spacely"
    assert caught.value.body == {"error": "no job 'never' was submitted for spacely"}


def test_a_bad_submission_is_an_http_error_with_the_functions_message(client: Client):
    with pytest.raises(HttpError) as caught:
        client.submit("nobody", "x")
    assert caught.value.status == 400 and "provider must be one of" in caught.value.message


def test_cancel_sends_the_reason_and_answers_the_canceled_manifest(
    client: Client, fake: FakeFunction
):
    client.submit("spacely", "job-1")
    answer = client.cancel("spacely", "job-1", reason="wrong prompt")
    seen = fake.requests_to("POST", "/jobs/spacely/job-1/cancel")
    assert [s.body for s in seen] == [{"reason": "wrong prompt"}]
    assert answer.state == "canceled" and answer.settled and not answer.succeeded
    assert answer.manifest is not None and answer.manifest.error is not None
    assert (answer.manifest.error.code, answer.manifest.error.message) == (
        "canceled",
        "wrong prompt",
    )
    again = client.cancel("spacely", "job-1")
    assert again.state == "canceled" and fake.seen[-1].body == {}


def test_cancel_of_a_job_settled_otherwise_is_a_conflict_carrying_the_answer(
    client: Client, fake: FakeFunction
):
    fake.add("spacely", "done", manifest=manifest("spacely", "done", "succeeded"))
    with pytest.raises(Conflict) as caught:
        client.cancel("spacely", "done")
    assert caught.value.status == 409 and caught.value.body is not None
    assert caught.value.body["state"] == "succeeded"
    with pytest.raises(NotFound):
        client.cancel("spacely", "never")


def test_replay_asks_for_a_replay_and_a_succeeded_job_refuses(client: Client, fake: FakeFunction):
    fake.add("spacely", "failed", manifest=manifest("spacely", "failed", "failed"))
    answer = client.replay("spacely", "failed")
    assert fake.requests_to("POST", "/jobs")[-1].body == {
        "provider": "spacely",
        "job_id": "failed",
        "replay": True,
    }
    assert answer.http_status == 202 and answer.replayed and answer.state == "pending"
    fake.add("spacely", "done", manifest=manifest("spacely", "done", "succeeded"))
    with pytest.raises(Conflict):
        client.replay("spacely", "done")


# -- list ------------------------------------------------------------------------------------
def test_list_follows_next_page_token_to_the_end(client: Client, fake: FakeFunction):
    for n in range(5):
        fake.add("spacely", f"s-{n}", checks=n, last_status="processing")
    fake.add("fliki", "f-0")
    fake.add("spacely", "done", manifest=manifest("spacely", "done", "succeeded"))

    jobs = list(client.list(provider="spacely", limit=2))

    assert [j.job_id for j in jobs] == [f"s-{n}" for n in range(5)]
    assert [j.checks for j in jobs] == [0, 1, 2, 3, 4]
    assert jobs[0].last_status == "processing" and jobs[0].next_check_at is not None
    queries = [s.query for s in fake.requests_to("GET", "/jobs")]
    assert queries == [
        {"state": "pending", "provider": "spacely", "limit": "2"},
        {"state": "pending", "provider": "spacely", "limit": "2", "page_token": "p2"},
        {"state": "pending", "provider": "spacely", "limit": "2", "page_token": "p4"},
    ]
    assert {j.job_id for j in client.list()} == {f"s-{n}" for n in range(5)} | {"f-0"}


def test_list_stops_on_a_page_token_handed_out_twice(client: Client, fake: FakeFunction):
    page = {"jobs": [], "next_page_token": "again"}
    for _ in range(3):
        fake.answer("GET", "/jobs", 200, page)
    with pytest.raises(UnexpectedAnswer, match="page token 'again' twice"):
        list(client.list())


def test_list_refuses_an_answer_without_jobs(client: Client, fake: FakeFunction):
    fake.answer("GET", "/jobs", 200, {"jobs": "none"})
    with pytest.raises(UnexpectedAnswer, match="without a list of jobs"):
        list(client.list())


# -- wait ------------------------------------------------------------------------------------
def test_wait_reports_each_change_of_state_and_returns_the_settled_answer(
    client: Client, fake: FakeFunction
):
    fake.add(
        "spacely",
        "job-1",
        settle_after=4,
        then=manifest("spacely", "job-1", "succeeded", sizes=(1024,)),
    )
    changes: list[JobAnswer] = []
    final = client.wait("spacely", "job-1", interval=0.01, on_change=changes.append)
    assert [c.state for c in changes] == ["pending", "succeeded"]
    assert final is changes[-1] and final.succeeded
    assert len(fake.requests_to("GET", "/jobs/spacely/job-1")) == 4


def test_wait_gives_up_after_its_timeout(client: Client, fake: FakeFunction):
    fake.add("spacely", "slow")
    with pytest.raises(
        WaitTimedOut, match="gave up waiting for spacely/slow after 0.3 s"
    ) as caught:
        client.wait("spacely", "slow", timeout=0.3, interval=0.02)
    assert caught.value.last is not None and caught.value.last.state == "pending"


def test_wait_waits_out_a_transient_error_once_the_job_was_seen(client: Client, fake: FakeFunction):
    fake.add("spacely", "job-1", settle_after=2, then=manifest("spacely", "job-1", "failed"))
    path = "/jobs/spacely/job-1"
    fake.answer("GET", path, 200, {"state": "pending", "manifest": None})
    fake.answer("GET", path, 503, {"error": "GCS read failed: ServiceUnavailable"})
    final = client.wait("spacely", "job-1", interval=0.01)
    assert final.state == "failed" and final.settled and not final.succeeded


def test_wait_does_not_retry_a_first_failure_or_an_unknown_job(client: Client, fake: FakeFunction):
    fake.answer("GET", "/jobs/spacely/job-1", 503, {"error": "unavailable"})
    with pytest.raises(HttpError) as caught:
        client.wait("spacely", "job-1", interval=0.01)
    assert caught.value.status == 503
    with pytest.raises(NotFound):
        client.wait("spacely", "never", interval=0.01)
    assert len(fake.requests_to("GET", "/jobs/spacely/never")) == 1


# -- failures and hostile answers ------------------------------------------------------------
def closed_port() -> tuple[socket.socket, int]:
    """A port bound and not listening: connecting to it is refused, and nobody else takes it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    return sock, sock.getsockname()[1]


def test_a_refused_connection_is_connection_failed():
    sock, port = closed_port()
    with sock, pytest.raises(ConnectionFailed) as caught:
        Client(f"http://127.0.0.1:{port}").status("spacely", "x")
    assert caught.value.message == f"cannot reach http://127.0.0.1:{port}: connection refused"
    assert caught.value.status is None


def test_an_answer_that_is_not_json_is_unexpected(client: Client, fake: FakeFunction):
    fake.answer("GET", "/jobs/spacely/x", 200, b"<html>hello</html>")
    with pytest.raises(UnexpectedAnswer, match="without a JSON object: <html>hello</html>"):
        client.status("spacely", "x")
    fake.answer("GET", "/jobs/spacely/x", 200, ["a", "list"])
    with pytest.raises(UnexpectedAnswer):
        client.status("spacely", "x")


def test_a_refused_caller_gets_a_hint_and_no_html(client: Client, fake: FakeFunction):
    fake.answer("GET", "/jobs/spacely/x", 403, b"<html>\n<b>403</b>\n Forbidden</html>")
    with pytest.raises(HttpError) as caught:
        client.status("spacely", "x")
    assert caught.value.status == 403 and caught.value.body is None
    assert "permission to invoke it" in caught.value.message
    assert "\n" not in caught.value.message


def test_a_redirect_is_not_followed(client: Client, fake: FakeFunction):
    fake.answer("GET", "/jobs/spacely/x", 302, {})
    with pytest.raises(UnexpectedAnswer, match="answered 302"):
        client.status("spacely", "x")


@pytest.mark.parametrize(
    "body",
    [
        {"state": 7, "manifest": {"files": "many", "labels": [1], "error": "boom", "checks": "x"}},
        {"state": None, "manifest": {"state": "weird", "files": [None, {"size": "big"}, {}]}},
        {"manifest": "not an object"},
        {},
    ],
)
def test_unexpected_shapes_are_read_without_crashing(
    client: Client, fake: FakeFunction, body: dict[str, Any]
):
    fake.answer("GET", "/jobs/spacely/x", 200, body)
    answer = client.status("spacely", "x")
    assert answer.raw == body
    assert not answer.succeeded  # no word nobody modelled reaches the success path


def test_a_settled_state_is_read_from_the_manifest_when_the_answer_lacks_one(
    client: Client, fake: FakeFunction
):
    fake.answer("GET", "/jobs/spacely/x", 200, {"manifest": {"state": "succeeded"}})
    answer = client.status("spacely", "x")
    assert answer.state == "succeeded" and answer.succeeded


@pytest.mark.parametrize(
    "url",
    [
        "",
        "ftp://host/x",
        "jobcourier.example",
        "https://h/x?a=1",
        "http://[::1",
        "http://host:99999",
        "http://host:port",
    ],
)
def test_a_url_that_is_not_http_is_a_usage_error(url: str):
    with pytest.raises(UsageError, match="the function URL must look like"):
        Client(url)


def test_every_error_is_a_client_error():
    for kind in (UsageError, ConnectionFailed, CredentialsMissing, UnexpectedAnswer, WaitTimedOut):
        assert issubclass(kind, ClientError)
    assert issubclass(NotFound, HttpError) and issubclass(Conflict, HttpError)


# -- ID tokens -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("url", "loopback"),
    [
        ("http://127.0.0.1:8080", True),
        ("http://127.9.9.9", True),
        ("http://localhost:8080/x", True),
        ("http://[::1]:8080", True),
        ("http://[::ffff:127.0.0.1]:80", True),
        ("https://localhost.evil.test", False),
        ("https://128.0.0.1", False),
        ("http://10.0.0.1", False),
        (REMOTE, False),
    ],
)
def test_loopback_addresses(url: str, loopback: bool):
    assert is_loopback(url) is loopback


def test_no_token_goes_to_a_loopback_url(fake: FakeFunction):
    tokens = RecordingTokens()
    Client(fake.url, token_source=tokens).submit("spacely", "x")
    assert tokens.audiences == []
    assert "Authorization" not in fake.seen[-1].headers


def test_a_remote_url_gets_an_id_token_for_its_own_audience(fake: FakeFunction):
    session, adapter = rerouted(fake)
    tokens = RecordingTokens()
    client = Client(REMOTE + "/", session=session, token_source=tokens)
    client.submit("spacely", "x")
    client.status("spacely", "x")
    assert tokens.audiences == [REMOTE, REMOTE]
    assert [r.headers["Authorization"] for r in adapter.sent] == [
        "Bearer id-token-1",
        "Bearer id-token-2",
    ]
    assert [r.url for r in adapter.sent] == [f"{REMOTE}/jobs", f"{REMOTE}/jobs/spacely/x"]
    assert fake.seen[-1].headers["Authorization"] == "Bearer id-token-2"


@pytest.fixture(scope="module")
def private_key_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def service_account_key(path: Path, token_uri: str, private_key_pem: str) -> Path:
    path.write_text(
        json.dumps(
            {
                "type": "service_account",
                "project_id": "project",
                "private_key_id": "key-1",
                "private_key": private_key_pem,
                "client_email": "operator@project.iam.gserviceaccount.com",
                "client_id": "1",
                "token_uri": token_uri,
            }
        )
    )
    return path


def test_google_id_tokens_come_from_the_service_account_flow_and_are_kept_until_expiry(
    fake: FakeFunction, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, private_key_pem: str
):
    key = service_account_key(tmp_path / "sa.json", f"{fake.url}/token", private_key_pem)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key))
    session, adapter = rerouted(fake)
    client = Client(REMOTE, session=session)  # the default token source: GoogleIdTokens

    client.submit("spacely", "x")
    client.status("spacely", "x")

    [minted] = fake.tokens_minted  # one token for both requests
    assert minted["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    assertion = jwt.decode(minted["assertion"], verify=False)
    assert assertion["target_audience"] == REMOTE
    assert assertion["iss"] == "operator@project.iam.gserviceaccount.com"
    bearer = {r.headers["Authorization"] for r in adapter.sent}
    [token] = [str(b).removeprefix("Bearer ") for b in bearer]
    assert jwt.decode(token, verify=False)["n"] == 1


def test_an_expired_id_token_is_fetched_again(
    fake: FakeFunction, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, private_key_pem: str
):
    key = service_account_key(tmp_path / "sa.json", f"{fake.url}/token", private_key_pem)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key))
    fake.token_ttl_s = 10  # inside google-auth's refresh threshold: stale at once
    tokens = GoogleIdTokens()
    assert tokens(REMOTE) != tokens(REMOTE)
    assert len(fake.tokens_minted) == 2


def test_missing_credentials_are_a_client_error(
    fake: FakeFunction, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "absent.json"))
    session, adapter = rerouted(fake)
    with pytest.raises(CredentialsMissing, match=f"no Google ID token for {REMOTE}"):
        Client(REMOTE, session=session).status("spacely", "x")
    assert adapter.sent == []
