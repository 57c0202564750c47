"""Naming, pacing, configuration, log redaction and the upload reader."""

from __future__ import annotations

import io
import json
import logging

import pytest

from jobcourier import logsafe, naming, policy
from jobcourier.config import Config
from jobcourier.edges.gcs import _ChunkReader
from jobcourier.errors import ConfigurationError
from jobcourier.providers import spacely


@pytest.mark.parametrize(
    ("content_type", "url", "name"),
    [
        ("image/png", "https://x/a.jpg", "03.png"),
        ("image/jpeg; charset=binary", "https://x/a", "03.jpg"),
        ("video/mp4", "https://x/a", "03.mp4"),
        ("application/octet-stream", "https://x/a/b.WEBP?sig=1", "03.webp"),
        (None, "https://x/a/b.jpeg", "03.jpg"),
        (None, "https://x/a/b", "03.bin"),
        ("", "https://x/a/b.toolongext", "03.bin"),
    ],
)
def test_result_names(content_type, url, name):
    assert naming.result_name(3, content_type, url) == name


@pytest.mark.parametrize(
    ("url", "public"),
    [
        (
            "https://storage.googleapis.com/b/o.png?X-Goog-Signature=abc&X-Goog-Credential=d",
            "https://storage.googleapis.com/b/o.png",
        ),
        ("https://user:pw@host.example:8443/p#frag", "https://host.example:8443/p"),
        ("https://host.example/p", "https://host.example/p"),
        ("http://[::1]:8080/p.png?sig=1", "http://[::1]:8080/p.png"),
    ],
)
def test_public_urls_carry_no_credentials(url, public):
    assert naming.public_url(url) == public


def test_backoff_grows_caps_and_honours_the_minimum_and_retry_after():
    pacing = spacely.pacing

    def h(n: int) -> policy.History:
        return policy.History(checks=n, elapsed_s=10.0 * n)

    delays = [policy.next_delay(pacing, h(n), rand=lambda: 0.5) for n in range(0, 12)]
    assert delays[0] == pacing.first_check_s * 0.95  # from the first check's delay ...
    # ... at most the target lag, jitter (rand 0.5) bringing each 5 % forward
    assert delays == sorted(delays) and delays[-1] == policy.blind_cap(pacing) * 0.95
    jittered = {policy.next_delay(pacing, h(1), rand=lambda r=r: r) for r in (0.0, 1.0)}  # type: ignore[misc]
    assert all(d >= pacing.min_interval_s for d in jittered)
    assert policy.next_delay(pacing, h(1), retry_after_s=90, rand=lambda: 0.5) == 90
    assert policy.next_delay(pacing, h(1), auth_fault=True, rand=lambda: 0.5) == 600
    assert policy.next_delay(pacing, h(1), retry_after_s=1e9) == policy.MAX_SCHEDULE_AHEAD_S


ENV = {
    "JOBCOURIER_BUCKET": "b",
    "JOBCOURIER_QUEUE": "projects/p/locations/l/queues/q",
    "JOBCOURIER_SELF_URL": "https://f.example/",
}


def test_config_routes_providers_to_their_queues():
    config = Config.from_env(
        {
            **ENV,
            "JOBCOURIER_QUEUE_SPACELY": "projects/p/locations/l/queues/s",
            "SPACELY_API_KEY": "k",
            "JOBCOURIER_DELAY_SCALE": "0.02",
        }
    )
    assert config.queue_for("spacely") == "projects/p/locations/l/queues/s"
    assert config.queue_for("fliki") == "projects/p/locations/l/queues/q"
    assert config.self_url == "https://f.example" and config.delay_scale == 0.02
    assert config.invoker_sa is None and not config.allow_private_urls
    assert config.webhook_token is None and not config.webhooks_only
    padded = Config.from_env(
        {**ENV, "JOBCOURIER_WEBHOOK_TOKEN": "0123456789abcdef\n", "FLIKI_API_KEY": " fk-123\n"}
    )
    assert padded.webhook_token == "0123456789abcdef" and padded.api_keys == {"fliki": "fk-123"}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"JOBCOURIER_BUCKET": ""}, "JOBCOURIER_BUCKET is required"),
        ({"JOBCOURIER_QUEUE": "q"}, "full queue name"),
        ({"JOBCOURIER_QUEUE_FLIKI": "projects/p/queues/q"}, "JOBCOURIER_QUEUE_FLIKI must be"),
        ({"JOBCOURIER_DELAY_SCALE": "fast"}, "JOBCOURIER_DELAY_SCALE"),
        ({"JOBCOURIER_DELAY_SCALE": "0"}, "JOBCOURIER_DELAY_SCALE"),
        ({"JOBCOURIER_WEBHOOKS_ONLY": "1"}, "needs JOBCOURIER_WEBHOOK_TOKEN"),
        ({"JOBCOURIER_WEBHOOKS_ONLY": "1", "JOBCOURIER_WEBHOOK_TOKEN": " \n"}, "needs"),
        ({"JOBCOURIER_WEBHOOK_TOKEN": "short"}, "at least 16 characters"),
        ({"SPACELY_API_KEY": "abc\x00def"}, "SPACELY_API_KEY must be printable ASCII"),
    ],
)
def test_config_errors_name_the_variable(change, message):
    with pytest.raises(ConfigurationError, match=message):
        Config.from_env({**ENV, **change})


def test_log_lines_are_json_with_query_strings_and_keys_redacted():
    formatter = logsafe.RedactingJsonFormatter(secrets=["sk-live-123456"])
    record = logging.LogRecord(
        "x",
        logging.WARNING,
        __file__,
        1,
        "GET https://h.example/o.png?X-Goog-Signature=abc failed with key %s",
        ("sk-live-123456",),
        None,
    )
    line = json.loads(formatter.format(record))
    assert line["severity"] == "WARNING"
    assert "abc" not in line["message"] and "sk-live" not in line["message"]
    assert "https://h.example/o.png?<redacted>" in line["message"]
    for leaky, kept in (
        ("Max retries exceeded with url: /v/a.mp4?X-Goog-Signature=abc", "/v/a.mp4?<redacted>"),
        ("GET HTTPS://H.example/a?sig=abc", "HTTPS://H.example/a?<redacted>"),
        ("upload_id in gs://b/o?upload_id=abc", "gs://b/o?<redacted>"),
    ):
        assert formatter.redact(leaky).endswith(kept), leaky
    assert (
        formatter.redact("status 'processing'? no query here")
        == "status 'processing'? no query here"
    )


def test_the_upload_reader_reads_whole_blocks_and_replays_the_last_one():
    data = bytes(range(256)) * 40
    chunks = iter([data[i : i + 700] for i in range(0, len(data), 700)])
    reader = _ChunkReader(chunks)
    first = reader.read(4096)
    assert first == data[:4096] and reader.tell() == 4096
    second = reader.read(4096)
    assert second == data[4096:8192]
    reader.seek(4096)  # the client resends the last chunk after a transient failure
    assert reader.read(4096) == second
    rest = reader.read(4096)
    assert rest == data[8192:] and len(rest) < 4096  # a short read is the end
    assert reader.read(4096) == b""
    with pytest.raises(OSError, match="last read"):
        reader.seek(0)
    with pytest.raises(ValueError, match="unbounded"):
        _ChunkReader(iter([])).read()


def test_the_upload_reader_matches_a_file_for_any_block_size():
    data = bytes(range(256)) * 99
    for size in (1, 7, 256, 5000, 100_000):
        reader = _ChunkReader(iter([data[i : i + 333] for i in range(0, len(data), 333)]))
        out = io.BytesIO()
        while block := reader.read(size):
            out.write(block)
        assert out.getvalue() == data


def test_log_lines_carry_the_job_they_are_about():
    formatter = logsafe.RedactingJsonFormatter()
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "rescheduled", (), None)
    token = logsafe.current_job.set(("spacely", "068e"))
    try:
        assert json.loads(formatter.format(record))["job"] == "spacely/068e"
        logsafe.current_job.set(None)  # as routes.handle does for each request
        assert "job" not in json.loads(formatter.format(record))
    finally:
        logsafe.current_job.reset(token)


def test_the_upload_reader_replays_twice_in_a_row():
    """The server kept part of a resent chunk, then part again: both seeks must work."""
    data = bytes(range(256)) * 10
    reader = _ChunkReader(iter([data[i : i + 300] for i in range(0, len(data), 300)]))
    assert reader.read(800) == data[:800]
    reader.seek(600)
    assert reader.read(800) == data[600:1400]
    reader.seek(700)
    assert reader.read(800) == data[700:1500]
    rest = b""
    while block := reader.read(1000):
        rest += block
    assert rest == data[1500:]
