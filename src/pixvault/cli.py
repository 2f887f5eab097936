"""`pixvault` command line: serve, users, db, fsck. Reuses the container and core of the API."""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable, Sequence

from pixvault import __version__, logs, repair_cli
from pixvault.core.errors import PixvaultError
from pixvault.settings import MAX_WORKERS, Settings, SettingsError, load_settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pixvault", description=__doc__)
    parser.add_argument("--version", action="version", version=f"pixvault {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="apply pending migrations, then serve the API and UI")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument(
        "--workers",
        type=_worker_count,
        default=None,
        help="processes serving requests (default: PIXVAULT_WORKERS, else one per core)",
    )
    serve.set_defaults(
        func=lambda settings, args: _serve(settings, args.host, args.port, args.workers)
    )

    users = sub.add_parser("users", help="manage accounts").add_subparsers(
        dest="users_command", required=True
    )
    create = users.add_parser("create", help="create an account")
    create.add_argument("email")
    create.add_argument(
        "--password-stdin", action="store_true", help="read the password from stdin"
    )
    create.add_argument("--admin", action="store_true", help="make the account an admin")
    create.add_argument("--quota", type=_byte_count, default=None, metavar="BYTES")
    create.set_defaults(func=_create_user)

    check = sub.add_parser("check-config", help="check that each configured backend answers")
    check.set_defaults(func=lambda settings, _args: _check_config(settings))

    db = sub.add_parser("db", help="database schema").add_subparsers(
        dest="db_command", required=True
    )
    db.add_parser("upgrade", help="apply pending migrations").set_defaults(func=_db_upgrade)
    repair_cli.add_parser(sub)
    return parser


Command = Callable[[Settings, argparse.Namespace], int]


def _byte_count(text: str) -> int:
    """A quota in bytes: a negative one would silently refuse every upload of the account."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of bytes: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"a quota cannot be negative: {text}")
    return value


def _worker_count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of processes: {text!r}") from None
    if not 1 <= value <= MAX_WORKERS:
        raise argparse.ArgumentTypeError(f"--workers must be 1 to {MAX_WORKERS}: {text}")
    return value


def _migrate(settings: Settings) -> None:
    from pixvault.container import build_container

    container = build_container(settings)
    try:
        container.migrate()
    finally:
        container.close()


def _db_upgrade(settings: Settings, _args: argparse.Namespace) -> int:
    _migrate(settings)
    print("database is up to date")
    return 0


def _serve(settings: Settings, host: str, port: int, workers: int | None) -> int:
    from pixvault.web.server import run

    if workers is not None:
        settings = settings.model_copy(update={"workers": workers})
    # Migrate once, here, before any worker starts; each worker then builds its own container.
    _migrate(settings)
    run(settings, host=host, port=port)
    return 0


def _create_user(settings: Settings, args: argparse.Namespace) -> int:
    from pixvault.container import build_container

    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("Password: ")
        if getpass.getpass("Repeat password: ") != password:
            print("pixvault: passwords do not match", file=sys.stderr)
            return 1
    container = build_container(settings)
    try:
        container.migrate()
        user = container.auth.create_user(
            args.email, password, quota=args.quota, admin=True if args.admin else None
        )
    finally:
        container.close()
    role = "admin" if user.is_admin else "user"
    print(f"created {role} {user.email} (id {user.id}, quota {user.quota_limit} bytes)")
    return 0


def _check_config(settings: Settings) -> int:
    from pixvault.checks import run_checks

    checks = run_checks(settings)
    for check in checks:
        mark = "ok  " if check.ok else "FAIL"
        print(f"{mark} {check.name:<12} {check.target}: {check.detail}")
    return 0 if all(c.ok for c in checks) else 1


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logs.configure()
    # Every leaf command sets ``func``: a parser branch without one is an error, never a
    # fall-through into some other command (once, that was a migration).
    func: Command = args.func
    try:
        return func(load_settings(), args)
    except SettingsError as exc:
        print(f"pixvault: {exc}", file=sys.stderr)
        return 2
    except PixvaultError as exc:
        print(f"pixvault: {exc.message}", file=sys.stderr)
        return 1
