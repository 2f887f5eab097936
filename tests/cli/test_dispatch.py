"""Every command line path runs its own command; none falls through into another."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path

from pixvault import cli
from tests.cli.server import clean_env, run_cli


def _leaves(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield path, parser
        return
    for action in subs:
        for name, child in action.choices.items():
            yield from _leaves(child, (*path, name))


def test_every_leaf_command_has_its_own_function() -> None:
    leaves = dict(_leaves(cli._parser()))
    assert set(leaves) >= {("serve",), ("users", "create"), ("check-config",), ("db", "upgrade")}
    funcs = {path: parser.get_default("func") for path, parser in leaves.items()}
    assert all(callable(f) for f in funcs.values()), funcs


def test_a_group_without_its_subcommand_is_a_usage_error_not_a_migration(tmp_path: Path) -> None:
    for group in ("db", "users"):
        done = run_cli(group, env=clean_env(tmp_path / "data"))
        assert done.returncode == 2
        assert "required" in done.stderr
    assert not (tmp_path / "data").exists()  # nothing was created, let alone migrated
