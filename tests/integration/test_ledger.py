"""The bookkeeping edge (edges/ledger.py) against the GCS emulator: its light reads over the
JSON API, listing in pages from the metadata alone, early webhooks that expire, and what an
unreachable or hostile bucket answers."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from google.cloud import storage

from jobcourier.edges.gcs import GcsStore
from jobcourier.edges.ledger import GcsLedger, JsonApiReader
from jobcourier.errors import InfrastructureError
from jobcourier.model import JobKey, JobRecord

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


@pytest.fixture
def ledger(gcs_emulator: str, monkeypatch: pytest.MonkeyPatch) -> GcsLedger:
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_emulator)
    bucket = storage.Client().create_bucket(f"ledger-{uuid.uuid4().hex[:12]}").name
    store = GcsStore.from_bucket_name(bucket)
    return GcsLedger(bucket, lambda: store, JsonApiReader.for_bucket(bucket))


def record(job_id: str, provider: str = "spacely", chain: str = "c0ffee00") -> JobRecord:
    return JobRecord(
        key=JobKey(provider, job_id),
        chain=chain,
        submitted_at=NOW,
        deadline_at=NOW + timedelta(hours=3),
        labels={"order": "A-17"},
        deadline_s=10800.0,
        callback_url="https://caller.example/hook",
    )


def test_a_pending_entry_is_created_once_read_back_whole_and_removed_by_generation(ledger):
    entry = record("a b%2F~")  # a name that needs quoting in the JSON API's path
    generation = ledger.create_pending(entry)
    assert generation is not None and ledger.create_pending(entry) is None
    read = ledger.read_pending(entry.key)
    assert read == entry and read is not None and read.generation == generation
    # (fake-gcs-server ignores if_generation_match on deletes; the unit fake keeps that rule)
    ledger.delete_pending(entry.key, generation)
    ledger.delete_pending(entry.key, generation)  # gone already: fine
    assert ledger.read_pending(entry.key) is None


def test_the_pending_list_pages_in_name_order_from_metadata_alone(ledger):
    for n in range(5):
        ledger.create_pending(record(f"job-{n}"))
    ledger.create_pending(record("video-1", provider="fliki"))
    pages, after = [], None
    while True:
        page = ledger.list_pending("spacely", after, 2)
        pages.append([r.key.job_id for r in page.records])
        if page.after is None:
            break
        after = page.after
    assert pages == [["job-0", "job-1"], ["job-2", "job-3"], ["job-4"]]
    everything = ledger.list_pending(None, None, None).records
    assert [r.key.provider for r in everything] == ["fliki"] + ["spacely"] * 5
    assert everything[1].deadline_at == NOW + timedelta(hours=3)
    assert all(r.generation for r in everything)


def test_jobs_and_history_are_kept(ledger):
    ledger.write_job(record("kept"))
    ledger.write_job(record("kept", chain="0badf00d"))  # a replay overwrites it
    assert ledger.read_job(JobKey("spacely", "kept")).chain == "0badf00d"
    assert ledger.read_job(JobKey("spacely", "never")) is None


def test_early_webhooks_are_capped_and_expire(ledger):
    key = JobKey("gepetto", "early")
    for n in range(3):
        assert ledger.note_early_webhook(
            JobKey("gepetto", f"early-{n}"), NOW, ttl=timedelta(hours=1), cap=3
        )
    assert not ledger.note_early_webhook(key, NOW, ttl=timedelta(hours=1), cap=3)
    later = datetime.now(UTC) + timedelta(hours=2)  # the emulator stamps real creation times
    assert ledger.note_early_webhook(key, later, ttl=timedelta(hours=1), cap=3)
    assert ledger.take_early_webhook(key) and not ledger.take_early_webhook(key)
    assert not ledger.take_early_webhook(JobKey("gepetto", "early-0"))  # expired and gone


class _Answers(BaseHTTPRequestHandler):
    status = 503
    body = b""

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        self.send_response(self.status)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def bucket_that_answers() -> Iterator[type[_Answers]]:
    handler = type("Handler", (_Answers,), {})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    handler.url = f"http://127.0.0.1:{server.server_port}"  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield handler
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (503, b"", "GCS read failed: HTTP 503"),
        (403, b"", "GCS read refused: HTTP 403"),
        (200, b"x" * (256 * 1024 + 1), "not a record"),
    ],
)
def test_what_the_reader_makes_of_an_unwell_bucket(bucket_that_answers, status, body, message):
    bucket_that_answers.status, bucket_that_answers.body = status, body
    reader = JsonApiReader("b", requests.Session(), bucket_that_answers.url)
    with pytest.raises(InfrastructureError, match=message):
        reader.read("_jobcourier/pending/spacely/x.json")


def test_an_unreachable_bucket_is_an_outage():
    reader = JsonApiReader("b", requests.Session(), "http://127.0.0.1:9")
    with pytest.raises(InfrastructureError, match="ConnectionError"):
        reader.read("anything")
