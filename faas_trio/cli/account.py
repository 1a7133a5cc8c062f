"""``faas-trio login`` and ``faas-trio user create|rm``: who the client verbs act as."""

from __future__ import annotations

import argparse
import sys

from .output import Output, guarded
from .target import client_for, client_options, profile_path, read_profile, write_profile
from .verbs import Commands, example

__all__ = ["register"]


def _login(args: argparse.Namespace) -> int:
    def body() -> int:
        # A login names a whole identity: what it does not name is not kept from before.
        settings = {"url": args.login_url.rstrip("/"), "key": args.key, "user": args.user}
        path = write_profile({k: v for k, v in settings.items() if v})
        Output(args.json).text(f"saved {settings['url']} to {path} (mode 0600)")
        return 0

    return guarded(body)


def _user_create(args: argparse.Namespace) -> int:
    def body() -> int:
        out = Output(args.json)
        with client_for(args, need_user=False) as client:
            key = client.create_user(args.name)
        if args.json:
            out.json({"user": args.name, "api_key": key})
        elif key:
            out.text(key)
            if not args.save:
                # On stderr: stdout is the key alone, for `KEY=$(faas-trio user create ann)`.
                sys.stderr.write(
                    "this key is shown only once: keep it "
                    f"(`faas-trio login {client.url} --key KEY` saves it)\n"
                )
        else:
            out.text(f"user {args.name} created (open mode: no key)")
        if args.save:
            settings = read_profile()
            settings["url"] = client.url
            settings["user"] = args.name
            if key:
                settings["key"] = key
            else:
                settings.pop("key", None)
            write_profile(settings)
            if not args.json:
                out.text(f"saved to {profile_path()}")
        return 0

    return guarded(body)


def _user_rm(args: argparse.Namespace) -> int:
    def body() -> int:
        with client_for(args, need_user=False) as client:
            client.delete_user(args.name)
        return 0

    return guarded(body)


def register(commands: Commands) -> None:
    """Add ``login`` and ``user``."""
    options = client_options()
    login = commands.add_parser(
        "login",
        parents=[options],
        help="save the platform URL (and your key) in your profile",
        description=f"Save the URL (and key) that client verbs use, in {profile_path()}, "
        "readable only by you (mode 0600).",
        **example(
            "faas-trio login http://127.0.0.1:8080 --user ann",
            "faas-trio login https://faas.example.org --key ann.Zm9v…",
        ),
    )
    login.add_argument("login_url", metavar="URL", help="the platform's base URL")
    login.set_defaults(run=_login)

    user = commands.add_parser("user", help="create or remove a user")
    verbs = user.add_subparsers(dest="user_verb", metavar="VERB", required=True)
    create = verbs.add_parser(
        "create",
        parents=[options],
        help="register a user; prints its API key once (keys mode)",
        description="Register a user. In keys mode its API key is printed, the only time "
        "it is shown; --save writes it (and the URL) to your profile.",
        **example("faas-trio user create ann --save"),
    )
    create.add_argument("name", help="the user's name")
    create.add_argument("--save", action="store_true", help="save the user and key to the profile")
    create.set_defaults(run=_user_create)
    rm = verbs.add_parser(
        "rm",
        parents=[options],
        help="remove a user and its functions",
        **example("faas-trio user rm ann"),
    )
    rm.add_argument("name", help="the user's name")
    rm.set_defaults(run=_user_rm)
