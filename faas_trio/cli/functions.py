"""``faas-trio fn deploy|ls|get|rm``: a user's functions."""

from __future__ import annotations

import argparse
import ast
import re
import sys
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from .output import Output, guarded
from .target import client_for, client_options
from .verbs import Commands, example

__all__ = ["function_name", "register"]

_JS_FUNCTION = re.compile(
    r"^\s*(?:async\s+)?function\s*\*?\s*([A-Za-z_$][\w$]*)"
    r"|^\s*(?:const|let|var)\s+([A-Za-z_$][\w$]*)\s*=",
    re.MULTILINE,
)


def function_name(path: Path, source: str) -> str:
    """The name a file's function is deployed under when none is given: the last top-level
    function it defines (the one the platform calls), else the file's stem."""
    if path.suffix == ".py":
        try:
            tree = ast.parse(source)
        except SyntaxError:
            tree = None
        if tree is not None:
            defs = [
                node.name
                for node in tree.body
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            ]
            if defs:
                return defs[-1]
    else:
        found = [a or b for a, b in _JS_FUNCTION.findall(source)]
        if found:
            return str(found[-1])
    return path.stem


def _parse_env(pairs: list[str]) -> dict[str, str]:
    env = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise ValueError(f"--env takes NAME=VALUE, not {pair!r}")
        env[name] = value
    return env


def _deploy(args: argparse.Namespace) -> int:
    def body() -> int:
        path = Path(args.file)
        source = path.read_text() if str(path) != "-" else sys.stdin.read()
        name = args.name or function_name(path, source)
        out = Output(args.json)
        waiting: Any = nullcontext()
        if args.requirements and out.rich:
            waiting = out.console(stderr=True).status(f"building {name}'s environment…")
        with client_for(args) as client, waiting:
            function = client.deploy(
                name,
                source,
                runtime=args.runtime,
                timeout=args.timeout,
                memory_mb=args.memory,
                requirements=args.requirements,
                env=_parse_env(args.env),
                secrets=args.secret,
            )
            info = function.info()
        if args.json:
            out.json(info)
        else:
            build = info.get("build")
            state = f", build {build.get('state')}" if isinstance(build, dict) else ""
            runtime, version = info.get("runtime"), info.get("version")
            out.text(f"deployed {name} ({runtime}, version {version}{state})")
        return 0

    return guarded(body)


def _ls(args: argparse.Namespace) -> int:
    def body() -> int:
        out = Output(args.json)
        with client_for(args) as client:
            names = sorted(client.functions())
            infos = [client.function(n).info() for n in names]
        if args.json:
            out.json(infos)
            return 0
        rows = []
        for info in infos:
            build = info.get("build")
            rows.append(
                (
                    info.get("f_name"),
                    info.get("runtime"),
                    info.get("version"),
                    info.get("timeout"),
                    info.get("memory_mb"),
                    build.get("state") if isinstance(build, dict) else "",
                )
            )
        out.table(("name", "runtime", "version", "timeout s", "memory MB", "build"), rows)
        return 0

    return guarded(body)


def _get(args: argparse.Namespace) -> int:
    def body() -> int:
        out = Output(args.json)
        with client_for(args) as client:
            info = client.function(args.name).info()
        if args.json:
            out.json(info)
        else:
            out.source(str(info.get("src", "")), str(info.get("runtime")))
        return 0

    return guarded(body)


def _rm(args: argparse.Namespace) -> int:
    def body() -> int:
        with client_for(args) as client:
            client.function(args.name).delete()
        return 0

    return guarded(body)


def register(commands: Commands) -> None:
    """Add ``fn`` and its verbs."""
    options = client_options()
    fn = commands.add_parser("fn", help="deploy, list, show and remove functions")
    verbs = fn.add_subparsers(dest="fn_verb", metavar="VERB", required=True)
    deploy = verbs.add_parser(
        "deploy",
        parents=[options],
        help="deploy a function from a file",
        description="Register (or replace) a function. Its name is the file's last "
        "top-level function unless --name says; with --requirements it waits for the "
        "environment's build and prints the build log if it fails.",
        **example(
            "faas-trio fn deploy add.py",
            "faas-trio fn deploy fetch.py --requirements requirements.txt --env MODE=fast",
        ),
    )
    deploy.add_argument("file", help="the source file (.py or .js; - for stdin)")
    deploy.add_argument("--name", help="the function's name")
    deploy.add_argument("--runtime", choices=("python", "node"), help="default: from the source")
    deploy.add_argument("--timeout", type=float, help="seconds a call may run")
    deploy.add_argument("--memory", type=int, help="memory limit of a call, MB")
    deploy.add_argument("--requirements", metavar="FILE", help="a requirements.txt (Python)")
    deploy.add_argument(
        "--env", action="append", default=[], metavar="K=V", help="an environment variable"
    )
    deploy.add_argument(
        "--secret", action="append", default=[], metavar="NAME", help="a secret the call gets"
    )
    deploy.set_defaults(run=_deploy)

    ls = verbs.add_parser(
        "ls", parents=[options], help="list your functions", **example("faas-trio fn ls")
    )
    ls.set_defaults(run=_ls)
    get = verbs.add_parser(
        "get",
        parents=[options],
        help="show a function's source (--json: its whole description)",
        **example("faas-trio fn get add", "faas-trio fn get add --json"),
    )
    get.add_argument("name", help="the function's name")
    get.set_defaults(run=_get)
    rm = verbs.add_parser(
        "rm", parents=[options], help="remove a function", **example("faas-trio fn rm add")
    )
    rm.add_argument("name", help="the function's name")
    rm.set_defaults(run=_rm)
