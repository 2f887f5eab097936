"""`pixvault fsck`: the repair pass from the command line (progress on a terminal, a summary
table or JSON, an exit status scripts can act on: 0 clean or repaired, 1 problems left, 2 an
error)."""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from datetime import timedelta
from typing import TextIO

from pixvault.core.auth import normalize_email
from pixvault.core.errors import PixvaultError
from pixvault.core.repair.service import Options, Report
from pixvault.settings import Settings

_DURATION = re.compile(r"^(\d+)([smhd]?)$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def duration(text: str) -> timedelta:
    """``90``, ``90s``, ``15m``, ``1h``, ``2d``."""
    found = _DURATION.fullmatch(text.strip())
    if found is None:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (e.g. 30m, 1h, 0s)")
    return timedelta(seconds=int(found[1]) * _UNITS[found[2]])


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    fsck = sub.add_parser(
        "fsck",
        help="check that stored bytes, image rows and quotas agree (--repair fixes them)",
    )
    fsck.add_argument("--repair", action="store_true", help="fix what is found")
    fsck.add_argument(
        "--older-than",
        type=duration,
        default=timedelta(hours=1),
        metavar="AGE",
        help="grace period: unreferenced bytes and reservations younger than this are "
        "left alone, as uploads in flight (default 1h)",
    )
    fsck.add_argument("--user", metavar="EMAIL", help="only this account")
    fsck.add_argument("--json", action="store_true", help="print the report as JSON")
    fsck.set_defaults(func=run)


class _ProgressLine:
    """One line on stderr, rewritten at most five times a second (only on a terminal)."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._last = 0.0
        self._shown = False

    def __call__(self, phase: str, done: int) -> None:
        now = time.monotonic()
        if now - self._last < 0.2:
            return
        self._last = now
        self._stream.write(f"\rfsck: {phase} checked: {done:,}   ")
        self._stream.flush()
        self._shown = True

    def clear(self) -> None:
        if self._shown:
            self._stream.write("\r" + " " * 60 + "\r")
            self._stream.flush()


def run(settings: Settings, args: argparse.Namespace) -> int:
    from pixvault.container import build_container

    try:
        container = build_container(settings)
    except PixvaultError as exc:
        print(f"pixvault fsck: {exc.message}", file=sys.stderr)
        return 2
    progress = _ProgressLine(sys.stderr) if sys.stderr.isatty() else None
    try:
        found, head = container.schema_revisions()
        if found != head:
            print(
                f"pixvault fsck: the database schema is at {found}, this version needs {head}: "
                "run `pixvault db upgrade` first",
                file=sys.stderr,
            )
            return 2
        owner_id = None
        if args.user:
            creds = container.database.user_repo.get_credentials(normalize_email(args.user))
            if creds is None:
                print(f"pixvault fsck: no account {args.user}", file=sys.stderr)
                return 2
            owner_id = creds.user.id
        options = Options(
            repair=args.repair,
            grace=args.older_than,
            owner_id=owner_id,
            derivatives=settings.background_derivatives,
        )
        report = container.repair.run(options, progress)
    except PixvaultError as exc:
        print(f"pixvault fsck: {exc.message}", file=sys.stderr)
        return 2
    finally:
        if progress is not None:
            progress.clear()
        container.close()
    if args.json:
        print(json.dumps(report.as_dict(), indent=2))
    else:
        print(table(report, repair=args.repair))
    return 0 if report.problems_left == 0 else 1


def table(report: Report, *, repair: bool) -> str:
    lines = [f"{'check':44} {'found':>8} {'repaired':>9} {'left':>6}"]
    for f in report.findings():
        lines.append(f"{f.name:44} {f.found:8,} {f.repaired:9,} {f.left:6,}")
        lines += [f"    e.g. {s}" for s in f.samples[:3] if f.left or repair]
    lines.append(
        f"\n{report.keys_seen:,} keys, {report.rows_seen:,} rows and {report.users_seen:,} users "
        f"checked; {report.too_young:,} unreferenced keys left alone as too young, "
        f"{report.foreign_keys:,} keys not made by pixvault ignored."
    )
    left = report.problems_left
    if left == 0:
        lines.append("clean" if not repair else "clean after repair")
    else:
        lines.append(f"{left:,} problems left" + ("" if repair else " (run with --repair)"))
    return "\n".join(lines)
