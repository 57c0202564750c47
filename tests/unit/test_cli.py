"""The `jobcourier` command, run through main(argv) against a stand-in function on 127.0.0.1
(tests/fake_function.py), and once as the installed console script."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from jobcourier.cli import clip, human_size, main
from tests.fake_function import (
    DEADLINE_AT,
    REMOTE,
    FakeFunction,
    RecordingTokens,
    manifest,
    rerouted,
)

SCRIPT = Path(sys.executable).with_name("jobcourier")


def run(capsys: pytest.CaptureFixture[str], *argv: str, **injected) -> tuple[int, str, str]:
    code = main(list(argv), **injected)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(autouse=True)
def _no_url_from_outside(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JOBCOURIER_URL", raising=False)


# -- arguments -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "argv",
    [
        ["--url", "{url}", "--json", "status", "spacely", "j-1"],
        ["--json", "status", "spacely", "j-1", "--url", "{url}"],
        ["status", "spacely", "j-1", "--url", "{url}", "--json"],
        ["--url", "{url}", "status", "--json", "spacely", "j-1"],
        ["--url", "http://127.0.0.1:1", "status", "spacely", "j-1", "--url", "{url}", "--json"],
    ],
)
def test_url_and_json_go_before_or_after_the_command(capsys, fake: FakeFunction, argv):
    fake.add("spacely", "j-1")
    code, out, err = run(capsys, *(a.replace("{url}", fake.url) for a in argv))
    assert (code, err) == (0, "")
    assert json.loads(out) == {
        "state": "pending",
        "manifest": None,
        "submitted_at": "2026-11-22T10:00:00Z",
        "deadline_at": DEADLINE_AT,
    }


def test_the_url_comes_from_the_environment(capsys, fake: FakeFunction, monkeypatch):
    monkeypatch.setenv("JOBCOURIER_URL", fake.url)
    code, out, _ = run(capsys, "submit", "spacely", "j-1")
    assert code == 0 and out.startswith("pending")
    assert fake.requests_to("POST", "/jobs")


def test_no_url_is_a_usage_error(capsys):
    code, out, err = run(capsys, "status", "spacely", "j-1")
    assert (code, out) == (2, "")
    assert err == "jobcourier: error: no function URL: give --url URL or set JOBCOURIER_URL\n"


def test_a_url_that_is_not_http_is_a_usage_error(capsys):
    code, _, err = run(capsys, "--url", "jobcourier.example", "status", "spacely", "j-1")
    assert code == 2 and "the function URL must look like https://HOST[/PATH]" in err


def test_submit_sends_what_its_options_say(capsys, fake: FakeFunction):
    code, _, _ = run(
        capsys,
        *("--url", fake.url, "submit", "sellerpic", "1234567890123"),
        *("--deadline", "5400", "--label", "order=A-17", "--label", "expr=a=b"),
        *("--label", "empty=", "--callback-url", "https://hooks.test/done"),
    )
    assert code == 0
    assert fake.requests_to("POST", "/jobs")[-1].body == {
        "provider": "sellerpic",
        "job_id": "1234567890123",
        "deadline_seconds": 5400,
        "labels": {"order": "A-17", "expr": "a=b", "empty": ""},
        "callback_url": "https://hooks.test/done",
    }


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["submit", "spacely", "j", "--label", "novalue"], "expected K=V with a non-empty K"),
        (["submit", "spacely", "j", "--label", "=v"], "expected K=V with a non-empty K"),
        (
            ["submit", "spacely", "j", "--label", "a=1", "--label", "a=2"],
            "--label: each key once. Found again: 'a'",
        ),
        (["submit", "spacely", "j", "--deadline", "-5"], "expected a positive number"),
        (["submit", "spacely", "j", "--deadline", "soon"], "expected a positive number"),
        (["submit", "spacely", "j", "--deadline", "nan"], "expected a positive number"),
        (["submit", "spacely", "j", "--timeout", "5"], "--timeout goes with --wait"),
        (["wait", "spacely", "j", "--timeout", "inf"], "expected a positive number"),
        (["status", "spacely"], "the following arguments are required: JOB_ID"),
        (["cancel"], "the following arguments are required: PROVIDER, JOB_ID"),
        (["list", "extra"], "unrecognized arguments: extra"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        ([], "the following arguments are required: COMMAND"),
        (["--json"], "the following arguments are required: COMMAND"),
    ],
)
def test_bad_arguments_are_usage_errors(capsys, fake: FakeFunction, argv, message):
    code, out, err = run(capsys, "--url", fake.url, *argv)
    assert (code, out) == (2, "")
    assert message in err and "usage: jobcourier" in err and "Traceback" not in err
    assert fake.seen == []


@pytest.mark.parametrize("command", ["submit", "status", "list", "cancel", "replay", "wait"])
def test_every_command_has_help(capsys, command):
    code, out, err = run(capsys, command, "--help")
    assert (code, err) == (0, "")
    assert out.startswith(f"usage: jobcourier {command} [-h] [--url URL] [--json]")


def test_the_main_help_names_every_command_and_the_exit_statuses(capsys):
    code, out, _ = run(capsys, "--help")
    assert code == 0
    for word in ("submit", "status", "list", "cancel", "replay", "wait", "JOBCOURIER_URL"):
        assert word in out
    assert "1  the job ended otherwise" in out


# -- exit statuses ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("state", "code"),
    [
        ("succeeded", 0),
        ("partial", 1),
        ("failed", 1),
        ("timed_out", 1),
        ("canceled", 1),
        ("a_state_nobody_modelled", 1),
    ],
)
def test_status_exits_by_the_jobs_state(capsys, fake: FakeFunction, state, code):
    fake.add("spacely", "j", manifest=manifest("spacely", "j", state, sizes=(3,)))
    assert run(capsys, "--url", fake.url, "status", "spacely", "j")[0] == code
    assert run(capsys, "--url", fake.url, "wait", "spacely", "j")[0] == code
    assert run(capsys, "--url", fake.url, "submit", "spacely", "j")[0] == code
    assert run(capsys, "--url", fake.url, "submit", "spacely", "j", "--wait")[0] == code


def test_a_pending_job_is_not_a_failure(capsys, fake: FakeFunction):
    fake.add("spacely", "j")
    code, out, _ = run(capsys, "--url", fake.url, "status", "spacely", "j")
    assert code == 0 and "state         pending" in out


def test_an_unknown_job_exits_2_with_the_functions_message(capsys, fake: FakeFunction):
    code, out, err = run(capsys, "--url", fake.url, "status", "spacely", "never")
    assert (code, out) == (2, "")
    assert err == "jobcourier: error: no job 'never' was submitted for spacely\n"
    code, out, err = run(capsys, "--url", fake.url, "--json", "status", "spacely", "never")
    assert code == 2 and json.loads(out) == {"error": "no job 'never' was submitted for spacely"}


def test_a_refused_submission_exits_2_with_the_functions_message(capsys, fake: FakeFunction):
    code, _, err = run(capsys, "--url", fake.url, "submit", "nobody", "j")
    assert code == 2 and "provider must be one of" in err


def test_a_refused_connection_exits_2_with_one_line(capsys):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        code, out, err = run(capsys, "--url", f"http://127.0.0.1:{port}", "list")
    assert (code, out) == (2, "")
    assert err == f"jobcourier: error: cannot reach http://127.0.0.1:{port}: connection refused\n"


def test_the_installed_command_prints_no_traceback_on_a_refused_connection():
    assert SCRIPT.exists(), "the project is not installed: run uv sync"
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{closed.getsockname()[1]}"
        for argv in (["status", "spacely", "j"], ["wait", "spacely", "j", "--timeout", "5"]):
            done = subprocess.run(
                [str(SCRIPT), "--url", url, *argv], capture_output=True, text=True, timeout=60
            )
            assert done.returncode == 2, done.stderr
            assert done.stdout == "" and "Traceback" not in done.stderr
            assert done.stderr == f"jobcourier: error: cannot reach {url}: connection refused\n"


def test_a_reader_that_goes_away_gets_no_traceback(fake: FakeFunction):
    for n in range(2000):  # more than a pipe holds: the command is still writing at the close
        fake.add("spacely", f"job-{n:05d}-" + "x" * 40)
    reader = subprocess.Popen(
        [str(SCRIPT), "--url", fake.url, "list"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert reader.stdout is not None and reader.stderr is not None
    reader.stdout.readline()
    reader.stdout.close()  # as `jobcourier list | head -1` does
    err = reader.stderr.read()
    reader.stderr.close()
    assert reader.wait(timeout=60) == 141
    assert err == ""


# -- submit --wait, wait, cancel, replay -----------------------------------------------------
def test_submit_wait_prints_each_change_of_state(capsys, fake: FakeFunction):
    done = manifest("spacely", "j", "succeeded", sizes=(1024, 2048, 1_250_000))
    fake.plan("spacely", "j", settle_after=3, then=done)
    code, out, err = run(capsys, "--url", fake.url, "submit", "spacely", "j", "--wait")
    assert (code, err) == (0, "")
    assert len(fake.requests_to("GET", "/jobs/spacely/j")) == 3
    assert out.splitlines() == [
        f"pending (deadline {DEADLINE_AT})",
        "succeeded (3 files, 1.2 MiB)",
    ]


def test_wait_prints_each_change_and_a_failure_with_its_error(capsys, fake: FakeFunction):
    fake.add("spacely", "j", settle_after=2, then=manifest("spacely", "j", "failed"))
    code, out, _ = run(capsys, "--url", fake.url, "wait", "spacely", "j")
    assert code == 1
    assert out.splitlines() == [
        f"pending (deadline {DEADLINE_AT})",
        "failed (no files; provider_failed: the provider reported 'failed')",
    ]


def test_wait_json_prints_only_the_settled_answer(capsys, fake: FakeFunction):
    done = manifest("spacely", "j", "succeeded", sizes=(5,))
    fake.add("spacely", "j", settle_after=2, then=done)
    code, out, _ = run(capsys, "--url", fake.url, "wait", "spacely", "j", "--json")
    assert code == 0 and json.loads(out) == {"state": "succeeded", "manifest": done}


def test_wait_gives_up_after_its_timeout_with_exit_2(capsys, fake: FakeFunction):
    fake.add("spacely", "slow")
    code, out, err = run(capsys, "--url", fake.url, "wait", "spacely", "slow", "--timeout", "0.5")
    assert code == 2 and out.startswith("pending")
    assert (
        err
        == "jobcourier: error: gave up waiting for spacely/slow after 0.5 s; it is still pending\n"
    )


def test_cancel_exits_0_and_a_settled_job_refuses_with_2(capsys, fake: FakeFunction):
    fake.add("spacely", "j")
    code, out, _ = run(capsys, "--url", fake.url, "cancel", "spacely", "j", "--reason", "typo")
    assert code == 0 and out == "canceled (no files; canceled: typo)\n"
    assert fake.seen[-1].body == {"reason": "typo"}

    fake.add("spacely", "done", manifest=manifest("spacely", "done", "succeeded"))
    code, out, err = run(capsys, "--url", fake.url, "--json", "cancel", "spacely", "done")
    assert code == 2 and "is settled: succeeded" in err
    assert json.loads(out)["state"] == "succeeded"  # the 409's body, for scripts

    assert run(capsys, "--url", fake.url, "cancel", "spacely", "never")[0] == 2


def test_replay_exits_0_and_a_succeeded_job_refuses_with_2(capsys, fake: FakeFunction):
    fake.add("spacely", "j", manifest=manifest("spacely", "j", "timed_out"))
    code, out, _ = run(capsys, "--url", fake.url, "replay", "spacely", "j")
    assert code == 0 and out == f"pending (replayed, deadline {DEADLINE_AT})\n"
    assert fake.requests_to("POST", "/jobs")[-1].body["replay"] is True

    fake.add("spacely", "done", manifest=manifest("spacely", "done", "succeeded"))
    code, _, err = run(capsys, "--url", fake.url, "replay", "spacely", "done")
    assert code == 2 and "nothing to replay" in err


# -- list ------------------------------------------------------------------------------------
def test_list_prints_every_page_as_one_table(capsys, fake: FakeFunction):
    for n in range(150):  # two pages at the function's default limit of 100
        fake.add("spacely" if n % 2 else "fliki", f"job-{n:03d}", checks=n, last_status="queued")
    code, out, _ = run(capsys, "--url", fake.url, "list")
    lines = out.splitlines()
    assert code == 0 and len(lines) == 1 + 150 + 1
    assert lines[0].split() == [
        *("PROVIDER", "JOB", "ID", "STATE", "CHECKS", "LAST", "STATUS"),
        *("NEXT", "CHECK", "AT"),
    ]
    assert lines[1].split() == [
        "fliki",
        "job-000",
        "pending",
        "0",
        "queued",
        "2026-11-22T10:02:00Z",
    ]
    assert lines[-1] == "150 jobs in flight"
    assert len({line.index("pending") for line in lines[1:-1]}) == 1  # aligned
    assert [s.query.get("page_token") for s in fake.requests_to("GET", "/jobs")] == [None, "p100"]


def test_list_json_is_one_document_of_every_page(capsys, fake: FakeFunction):
    for n in range(120):
        fake.add("spacely", f"job-{n}")
    code, out, _ = run(capsys, "--url", fake.url, "--json", "list", "--provider", "spacely")
    document = json.loads(out)
    assert code == 0 and document["next_page_token"] is None
    assert [j["job_id"] for j in document["jobs"]] == [f"job-{n}" for n in range(120)]
    assert fake.requests_to("GET", "/jobs")[0].query["provider"] == "spacely"


def test_an_empty_list_says_so(capsys, fake: FakeFunction):
    assert run(capsys, "--url", fake.url, "list") == (0, "no jobs in flight\n", "")


# -- human output ----------------------------------------------------------------------------
def test_status_shows_the_manifest_and_its_files(capsys, fake: FakeFunction):
    settled = manifest("spacely", "j", "partial", sizes=(512, 3 * 1024 * 1024), labels={"o": "1"})
    fake.add("spacely", "j", manifest=settled)
    code, out, _ = run(capsys, "--url", fake.url, "status", "spacely", "j")
    assert code == 1
    assert out.splitlines() == [
        "provider      spacely",
        "job id        j",
        "state         partial",
        "submitted at  2026-11-22T10:00:00Z",
        "settled at    2026-11-22T10:01:40Z",
        "checks        6",
        "labels        o=1",
        "error         provider_failed: the provider reported 'failed'",
        "files         2 files, 3.0 MiB",
        "",
        "NAME    SIZE     TYPE       URI",
        "00.png  512 B    image/png  gs://bucket/spacely/j/00.png",
        "01.png  3.0 MiB  image/png  gs://bucket/spacely/j/01.png",
    ]


def test_hostile_job_ids_and_provider_text_are_clipped_and_made_printable(
    capsys, fake: FakeFunction
):
    long_id = "x" * 300
    fake.add("spacely", long_id, last_status="\x1b[31mred\x1b[0m\nnext line " + "y" * 100)
    code, out, _ = run(capsys, "--url", fake.url, "list")
    row = out.splitlines()[1]
    assert code == 0 and "\x1b" not in out and "x" * 59 + "\u2026" in row
    assert "x" * 60 not in row
    assert "?[31mred?[0m?next line" in row


def test_answers_of_unexpected_shapes_are_printed_without_crashing(capsys, fake: FakeFunction):
    fake.answer("GET", "/jobs/spacely/j", 200, {"state": ["odd"], "manifest": {"files": [1, {}]}})
    code, out, err = run(capsys, "--url", fake.url, "status", "spacely", "j")
    assert code == 1 and err == "" and "state         unknown" in out
    fake.answer("GET", "/jobs", 200, {"jobs": [None, {"checks": "many", "job_id": {"a": 1}}]})
    code, out, err = run(capsys, "--url", fake.url, "list")
    assert code == 0 and err == "" and out.splitlines()[1].split()[:3] == ["-", "-", "unknown"]


@pytest.mark.parametrize(
    ("size", "shown"),
    [
        (None, "-"),
        (0, "0 B"),
        (1023, "1023 B"),
        (1024, "1.0 KiB"),
        (1_250_000, "1.2 MiB"),
        (5 * 1024**3, "5.0 GiB"),
        (3 * 1024**5, "3072.0 TiB"),
    ],
)
def test_human_sizes(size, shown):
    assert human_size(size) == shown


def test_clip():
    assert clip(None) == "-"
    assert clip("a\tb\x00c") == "a?b?c"
    assert clip("z" * 61) == "z" * 59 + "\u2026" and len(clip("z" * 61)) == 60
    assert clip("z" * 60) == "z" * 60


# -- ID tokens -------------------------------------------------------------------------------
def test_the_command_sends_an_id_token_to_a_remote_url_only(capsys, fake: FakeFunction):
    fake.add("spacely", "j")
    session, adapter = rerouted(fake)
    tokens = RecordingTokens()
    code, _, _ = run(
        capsys, "--url", REMOTE, "status", "spacely", "j", session=session, token_source=tokens
    )
    assert code == 0 and tokens.audiences == [REMOTE]
    assert adapter.sent[0].headers["Authorization"] == "Bearer id-token-1"

    code, _, _ = run(capsys, "--url", fake.url, "status", "spacely", "j", token_source=tokens)
    assert code == 0 and tokens.audiences == [REMOTE]
    assert "Authorization" not in fake.seen[-1].headers
