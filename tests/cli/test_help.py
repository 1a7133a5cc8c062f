"""Every client verb explains itself: ``--help`` with an example."""

from __future__ import annotations

import argparse

from faas_trio.cli import build_parser

CLIENT_VERBS = {
    ("login",),
    ("user", "create"),
    ("user", "rm"),
    ("fn", "deploy"),
    ("fn", "ls"),
    ("fn", "get"),
    ("fn", "rm"),
    ("invoke",),
    ("map",),
    ("jobs",),
    ("job", "get"),
    ("job", "res"),
    ("job", "logs"),
    ("job", "cancel"),
    ("logs",),
}


def _leaves(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> dict[tuple[str, ...], argparse.ArgumentParser]:
    found = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found.update(_leaves(sub, (*path, name)))
    return found or {path: parser}


def test_every_client_verb_has_help_with_an_example() -> None:
    leaves = _leaves(build_parser())
    assert CLIENT_VERBS <= set(leaves)
    for verb in CLIENT_VERBS:
        text = leaves[verb].format_help()
        example = text.split("example:\n", 1)[-1]
        assert f"  faas-trio {' '.join(verb)}" in example, (verb, text)
        assert "--url" in text and "--json" in text, verb
