"""The `jobcourier` command: submit, status, list, cancel, replay and wait
(docs/contract.md#command-line), built on client.py. Tables for people, --json for scripts.

Exit status: 0 when the job (or the request) succeeded, 1 when the job ended otherwise
(settled, but not succeeded), 2 on a usage or connection error or an error answer.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import requests

from jobcourier.client import (
    Client,
    ClientError,
    HttpError,
    JobAnswer,
    Manifest,
    PendingJob,
    TokenSource,
    WaitTimedOut,
)

URL_ENV = "JOBCOURIER_URL"
EXIT_OK = 0
EXIT_JOB_NOT_SUCCEEDED = 1
EXIT_ERROR = 2
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, as a shell reports a writer killed by it
CELL_CHARS = 60  # provider text and job ids are printed at most this long
MESSAGE_CHARS = 120

Command = Callable[[Client, argparse.Namespace], int]

EPILOG = f"""\
The function's URL comes from --url or ${URL_ENV}. Requests carry a Google ID token for it
(GOOGLE_APPLICATION_CREDENTIALS or the metadata server) unless its host is a loopback address.
--url and --json may also follow the command: jobcourier status P ID --json

exit status:
  0  the job (or the request) succeeded; a job still pending
  1  the job ended otherwise: failed, partial, timed_out, canceled
  2  usage or connection error, or an error answer (400, 404 unknown job, 409, 5xx)
  {EXIT_INTERRUPTED}  interrupted; {EXIT_BROKEN_PIPE}: the reader of the output went away
"""


def main(
    argv: Sequence[str] | None = None,
    *,
    session: requests.Session | None = None,
    token_source: TokenSource | None = None,
) -> int:
    """Run one command and return its exit status (the console script exits with it)."""
    _tolerate_unencodable_output()
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse printed the usage error (2) or the help (0)
        return exc.code if isinstance(exc.code, int) else EXIT_ERROR
    error = _check(args)
    if error:
        parser.print_usage(sys.stderr)
        return _fail(error)
    url = getattr(args, "url", None) or os.environ.get(URL_ENV, "")
    if not url.strip():
        return _fail(f"no function URL: give --url URL or set {URL_ENV}")
    command: Command = args.command
    try:
        client = Client(url, session=session, token_source=token_source)
        return command(client, args)
    except ClientError as exc:
        if _json_wanted(args) and isinstance(exc, HttpError) and exc.body is not None:
            _print_json(exc.body)
        return _fail(exc.message)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `jobcourier list | head`: the reader went away
        _silence_stdout()
        return EXIT_BROKEN_PIPE


# -- the commands ----------------------------------------------------------------------------
def _submit(client: Client, args: argparse.Namespace) -> int:
    answer = client.submit(
        args.provider,
        args.job_id,
        deadline_seconds=args.deadline,
        labels=dict(args.label),
        callback_url=args.callback_url,
    )
    if not args.wait or answer.settled:
        return _report(answer, args)
    shown = [answer.state]
    if not _json_wanted(args):
        _say(describe(answer))

    def changed(seen: JobAnswer) -> None:
        if seen.state != shown[-1]:  # the submit answer already showed the first state
            shown.append(seen.state)
            _say(describe(seen))

    final = _wait(client, args, changed)
    if _json_wanted(args):
        _print_json(final.raw)
    return _exit_for(final)


def _status(client: Client, args: argparse.Namespace) -> int:
    answer = client.status(args.provider, args.job_id)
    if _json_wanted(args):
        _print_json(answer.raw)
    else:
        _say(job_details(args.provider, args.job_id, answer))
    return _exit_for(answer)


def _wait_command(client: Client, args: argparse.Namespace) -> int:
    final = _wait(client, args, lambda seen: _say(describe(seen)))
    if _json_wanted(args):
        _print_json(final.raw)
    return _exit_for(final)


def _cancel(client: Client, args: argparse.Namespace) -> int:
    answer = client.cancel(args.provider, args.job_id, reason=args.reason)
    if _json_wanted(args):
        _print_json(answer.raw)
    else:
        _say(describe(answer))
    return EXIT_OK  # the request succeeded: the job is canceled as asked


def _replay(client: Client, args: argparse.Namespace) -> int:
    return _report(client.replay(args.provider, args.job_id), args)


def _list(client: Client, args: argparse.Namespace) -> int:
    jobs = list(client.list(provider=args.provider))
    if _json_wanted(args):
        # All pages as one document, shaped as the function's own answer.
        _print_json({"jobs": [dict(job.raw) for job in jobs], "next_page_token": None})
    elif not jobs:
        _say("no jobs in flight")
    else:
        _say(jobs_table(jobs))
        _say(f"{len(jobs)} job{'s' if len(jobs) != 1 else ''} in flight")
    return EXIT_OK


def _wait(
    client: Client, args: argparse.Namespace, on_change: Callable[[JobAnswer], None]
) -> JobAnswer:
    quiet = _json_wanted(args)
    try:
        return client.wait(
            args.provider,
            args.job_id,
            timeout=args.timeout,
            on_change=None if quiet else on_change,
        )
    except WaitTimedOut as exc:
        if quiet and exc.last is not None:
            _print_json(exc.last.raw)
        raise


def _report(answer: JobAnswer, args: argparse.Namespace) -> int:
    if _json_wanted(args):
        _print_json(answer.raw)
    else:
        _say(describe(answer))
    return _exit_for(answer)


def _exit_for(answer: JobAnswer) -> int:
    if answer.settled and not answer.succeeded:
        return EXIT_JOB_NOT_SUCCEEDED
    return EXIT_OK


# -- human output ----------------------------------------------------------------------------
def describe(answer: JobAnswer) -> str:
    """One line: `pending (deadline ...)`, `succeeded (3 files, 1.2 MiB)`,
    `failed (no files; provider_failed: ...)`."""
    notes: list[str] = []
    if answer.duplicate:
        notes.append("already submitted")
    if answer.replayed:
        notes.append("replayed")
    manifest = answer.manifest
    if manifest is not None:
        notes.append(_files_summary(manifest))
        if manifest.error is not None:
            notes[-1] += "; " + clip(
                f"{manifest.error.code}: {manifest.error.message}", MESSAGE_CHARS
            )
    elif answer.deadline_at:
        notes.append(f"deadline {clip(answer.deadline_at)}")
    state = clip(answer.state)
    return f"{state} ({', '.join(notes)})" if notes else state


def job_details(provider: str, job_id: str, answer: JobAnswer) -> str:
    """One job, field by field, then its files as a table."""
    manifest = answer.manifest
    rows: list[tuple[str, Any]] = [
        ("provider", provider),
        ("job id", job_id),
        ("state", answer.state),
        ("submitted at", answer.submitted_at or (manifest.submitted_at if manifest else None)),
    ]
    if manifest is None:
        rows.append(("deadline at", answer.deadline_at))
    else:
        rows += [
            ("settled at", manifest.settled_at),
            ("checks", manifest.checks),
            ("labels", ", ".join(f"{k}={v}" for k, v in manifest.labels.items()) or None),
            (
                "error",
                f"{manifest.error.code}: {manifest.error.message}" if manifest.error else None,
            ),
            ("files", _files_summary(manifest)),
        ]
    width = max(len(name) for name, _ in rows)
    lines = [f"{name.ljust(width)}  {clip(value, MESSAGE_CHARS)}" for name, value in rows]
    if manifest is not None and manifest.files:
        files = table(
            ("NAME", "SIZE", "TYPE", "URI"),
            [(f.name, human_size(f.size), f.content_type, f.uri) for f in manifest.files],
            widths={"URI": MESSAGE_CHARS},
        )
        lines += ["", files]
    return "\n".join(lines)


def jobs_table(jobs: Iterable[PendingJob]) -> str:
    return table(
        ("PROVIDER", "JOB ID", "STATE", "CHECKS", "LAST STATUS", "NEXT CHECK AT"),
        [(j.provider, j.job_id, j.state, j.checks, j.last_status, j.next_check_at) for j in jobs],
    )


def table(
    headers: Sequence[str], rows: Iterable[Sequence[Any]], widths: Mapping[str, int] | None = None
) -> str:
    """Columns aligned, two spaces apart; every cell clipped and made printable."""
    limits = [(widths or {}).get(h, CELL_CHARS) for h in headers]
    cells = [list(headers)] + [
        [clip(v, limit) for v, limit in zip(row, limits, strict=True)] for row in rows
    ]
    column = [max(len(line[i]) for line in cells) for i in range(len(headers))]
    return "\n".join(
        "  ".join(cell.ljust(column[i]) for i, cell in enumerate(line)).rstrip() for line in cells
    )


def clip(value: Any, limit: int = CELL_CHARS) -> str:
    """Printable, one line, at most `limit` characters (an ellipsis marks a cut): job ids and
    provider text are not ours, and may hold anything."""
    if value is None:
        return "-"
    text = "".join(ch if ch.isprintable() else "?" for ch in str(value))
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def human_size(size: int | None) -> str:
    if size is None:
        return "-"
    if size < 1024:
        return f"{size} B"
    value = float(size)
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        value /= 1024
        if value < 1024 or unit == "TiB":
            break
    return f"{value:.1f} {unit}"


def _files_summary(manifest: Manifest) -> str:
    count = len(manifest.files)
    if count == 0:
        return "no files"
    return f"{count} file{'s' if count != 1 else ''}, {human_size(manifest.total_bytes)}"


# -- arguments -------------------------------------------------------------------------------
def _parser() -> argparse.ArgumentParser:
    # --url and --json are accepted before and after the subcommand. SUPPRESS keeps a
    # subcommand's unset option from overwriting one given before it.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--url",
        default=argparse.SUPPRESS,
        help=f"the function's URL (default: ${URL_ENV})",
    )
    common.add_argument(
        "--json",
        action="store_true",
        default=argparse.SUPPRESS,
        help="print the function's JSON answer (one document) instead of a table",
    )
    parser = argparse.ArgumentParser(
        prog="jobcourier",
        parents=[common],
        description="Submit, watch and steer jobcourier's jobs.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)

    def command(name: str, run: Command, summary: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, parents=[common], help=summary, description=summary)
        sub.set_defaults(command=run)
        return sub

    def job(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("provider", metavar="PROVIDER", help="spacely, gepetto, sellerpic, ...")
        sub.add_argument("job_id", metavar="JOB_ID", help="the provider's job id")

    submit = command("submit", _submit, "Hand a provider's job to jobcourier.")
    job(submit)
    submit.add_argument(
        "--deadline", type=_seconds, metavar="S", help="give up on the job after S seconds"
    )
    submit.add_argument(
        "--label",
        type=_label,
        action="append",
        default=[],
        metavar="K=V",
        help="a label copied into the manifest (repeatable)",
    )
    submit.add_argument(
        "--callback-url", metavar="U", help="POSTed the manifest once the job is settled"
    )
    submit.add_argument("--wait", action="store_true", help="then wait until it is settled")
    submit.add_argument(
        "--timeout", type=_seconds, metavar="S", help="with --wait: give up after S seconds"
    )

    job(command("status", _status, "Show a job's state and, once settled, its manifest."))

    listing = command("list", _list, "List the jobs in flight.")
    listing.add_argument("--provider", metavar="P", help="only this provider's jobs")

    cancel = command("cancel", _cancel, "Stop a job: it settles as canceled.")
    job(cancel)
    cancel.add_argument("--reason", metavar="R", help="recorded in the manifest's error")

    job(command("replay", _replay, "Run a job that ended otherwise than succeeded again."))

    wait = command("wait", _wait_command, "Print each change of a job's state until settled.")
    job(wait)
    wait.add_argument("--timeout", type=_seconds, metavar="S", help="give up after S seconds")
    return parser


def _check(args: argparse.Namespace) -> str | None:
    """What argparse alone cannot refuse."""
    labels = getattr(args, "label", [])
    keys = [key for key, _ in labels]
    repeated = sorted({key for key in keys if keys.count(key) > 1})
    if repeated:
        return f"--label: each key once. Found again: {', '.join(map(repr, repeated))}"
    if getattr(args, "timeout", None) is not None and getattr(args, "wait", True) is False:
        return "--timeout goes with --wait"
    return None


def _label(text: str) -> tuple[str, str]:
    key, equals, value = text.partition("=")
    if not equals or not key:
        raise argparse.ArgumentTypeError(f"expected K=V with a non-empty K. Found: {text!r}")
    return key, value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds. Found: {text!r}")
    return value


# -- printing --------------------------------------------------------------------------------
def _json_wanted(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "json", False))


def _print_json(document: Any) -> None:
    print(json.dumps(document, indent=2), flush=True)


def _say(text: str) -> None:
    print(text, flush=True)


def _fail(message: str) -> int:
    print(f"jobcourier: error: {clip(message, 1000)}", file=sys.stderr, flush=True)
    return EXIT_ERROR


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so that the interpreter's final flush does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is no file (a test's capture)
        pass


def _tolerate_unencodable_output() -> None:
    """A job id the terminal's encoding cannot show must not crash the command."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="replace")


if __name__ == "__main__":
    raise SystemExit(main())
