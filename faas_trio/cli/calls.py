"""``faas-trio invoke``, ``jobs``, ``job get|res|logs|cancel`` and ``logs``: calls and jobs."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from typing import Any

from .output import EXIT_FAILED, Output, guarded
from .target import client_for, client_options
from .verbs import Commands, example

__all__ = ["parse_arg", "register"]

_STATES = ("queued", "running", "succeeded", "failed", "timeout", "cancelled")


def parse_arg(text: str) -> Any:
    """A command-line argument as a call argument: its JSON value, else the string itself."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def _value_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _when(stamp: Any) -> str:
    if not isinstance(stamp, int | float) or stamp <= 0:
        return ""
    return datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _invoke(args: argparse.Namespace) -> int:
    def body() -> int:
        out = Output(args.json)
        call_args = [parse_arg(a) for a in args.args]
        with client_for(args) as client:
            function = client.function(args.name)
            if args.async_:
                job = function.submit(*call_args)
                out.json({"id": job.id}) if args.json else out.text(job.id)
                return 0
            if args.json:
                job = function.submit(*call_args)
                record = job.wait(timeout=args.wait)
                out.json(record)
                return 0 if record.get("state") == "succeeded" else EXIT_FAILED
            value = function(*call_args, timeout=args.wait)
        out.text(_value_text(value))
        return 0

    return guarded(body)


def _jobs(args: argparse.Namespace) -> int:
    def body() -> int:
        out = Output(args.json)
        with client_for(args) as client:
            jobs = client.jobs(state=args.state, limit=args.limit)
        if args.json:
            out.json(jobs)
            return 0
        rows = [
            (
                job.get("id"),
                job.get("function"),
                job.get("state"),
                _when(job.get("created_at")),
                job.get("duration_ms"),
            )
            for job in jobs
        ]
        out.table(("id", "function", "state", "created (UTC)", "ms"), rows)
        return 0

    return guarded(body)


def _job(args: argparse.Namespace) -> int:
    def body() -> int:
        out = Output(args.json)
        with client_for(args, need_user=False) as client:
            job = client.job(args.id)
            if args.job_verb == "get":
                record = job.record()
                out.json(record) if args.json else out.fields(record)
            elif args.job_verb == "res":
                record = job.wait(timeout=args.wait) if args.wait else job.record()
                if args.json:
                    out.json(record.get("value"))
                elif record.get("state") == "succeeded":
                    out.text(_value_text(record.get("value")))
                elif record.get("state") in ("queued", "running"):
                    out.text(f"job {job.id} is {record.get('state')}")
                    return EXIT_FAILED
                else:
                    from ..client.errors import job_error_for

                    raise job_error_for(record)
            elif args.job_verb == "logs":
                logs = job.logs()
                out.json(logs) if args.json else out.text(logs)
            else:
                job.cancel()
        return 0

    return guarded(body)


def _logs(args: argparse.Namespace) -> int:
    def body() -> int:
        out = Output(args.json)
        with client_for(args, need_user=False) as client:
            job = client.job(args.id)
            if args.follow:
                job.wait(timeout=args.wait)
            logs = job.logs()
        out.json(logs) if args.json else out.text(logs)
        return 0

    return guarded(body)


def register(commands: Commands) -> None:
    """Add ``invoke``, ``jobs``, ``job`` and ``logs``."""
    options = client_options()
    invoke = commands.add_parser(
        "invoke",
        parents=[options],
        help="call a function and print its result",
        description='Call a function. Each ARG is read as JSON (4, "a", [1,2], {…}), '
        "else taken as a string. Waits for the result and prints it; --async prints the "
        "job id at once; --json prints the whole job record.",
        **example("faas-trio invoke add 4 7", "faas-trio invoke greet ann --async"),
    )
    invoke.add_argument("name", help="the function's name")
    invoke.add_argument("args", nargs="*", metavar="ARG", help="an argument (JSON, else string)")
    invoke.add_argument("--async", dest="async_", action="store_true", help="print the job id")
    invoke.add_argument("--wait", type=float, default=300.0, help="seconds to wait (300)")
    invoke.set_defaults(run=_invoke)

    jobs = commands.add_parser(
        "jobs",
        parents=[options],
        help="list your recent jobs",
        **example("faas-trio jobs", "faas-trio jobs --state failed --limit 10"),
    )
    jobs.add_argument("--state", choices=_STATES, help="only jobs in this state")
    jobs.add_argument("--limit", type=int, help="at most this many (default 50, up to 1000)")
    jobs.set_defaults(run=_jobs)

    job = commands.add_parser("job", help="look at or cancel one job")
    verbs = job.add_subparsers(dest="job_verb", metavar="VERB", required=True)
    for verb, help_text in (
        ("get", "show the job's record"),
        ("res", "print the job's result (--wait S: wait for it)"),
        ("logs", "print what the job printed"),
        ("cancel", "cancel the job (a running call is killed) and remove it"),
    ):
        sub = verbs.add_parser(
            verb, parents=[options], help=help_text, **example(f"faas-trio job {verb} JOB_ID")
        )
        sub.add_argument("id", help="the job id")
        if verb == "res":
            sub.add_argument("--wait", type=float, default=0.0, help="seconds to wait")
        sub.set_defaults(run=_job)

    logs = commands.add_parser(
        "logs",
        parents=[options],
        help="print a job's output (--follow: once it has ended)",
        **example("faas-trio logs JOB_ID --follow"),
    )
    logs.add_argument("id", help="the job id")
    logs.add_argument("--follow", "-f", action="store_true", help="wait for the job to end")
    logs.add_argument("--wait", type=float, default=None, help="seconds to wait at most")
    logs.set_defaults(run=_logs)
