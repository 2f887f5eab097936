"""`pixvault check-config`: does each configured backend answer, with these settings?"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from pixvault.container import build_container
from pixvault.core.errors import PixvaultError
from pixvault.settings import Settings


@dataclass(frozen=True)
class Check:
    name: str
    target: str
    ok: bool
    detail: str


def redact(url: str) -> str:
    """Never print a password that sits in a URL."""
    parts = urlsplit(url)
    if parts.password:
        host = parts.hostname or ""
        netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


def _run(name: str, target: str, probe: Callable[[], str]) -> Check:
    try:
        return Check(name, target, True, probe())
    except (PixvaultError, OSError, ConnectionError) as exc:
        reason = exc.message if isinstance(exc, PixvaultError) else str(exc)
        cause = exc.__cause__
        return Check(name, target, False, f"{reason}{f' ({cause})' if cause else ''}")


def run_checks(settings: Settings) -> list[Check]:
    container = build_container(settings)
    db_url = settings.resolved_database_url
    try:

        def database() -> str:
            container.database.ping()
            current, head = container.schema_revisions()
            if current != head:
                return f"answers; schema at {current}, head is {head}: run `pixvault db upgrade`"
            return f"answers; schema at head ({head})"

        def blobs() -> str:
            container.blobs.ping()
            return "answers"

        storage = settings.storage_url or f"file://{settings.blob_root}"
        if settings.redis_url:
            redis = redact(settings.redis_url)
        elif settings.resolved_workers > 1:
            redis = str(settings.rate_limit_file)
        else:
            redis = "memory"
        return [
            _run("database", redact(db_url), database),
            _run("blob store", storage, blobs),
            _run("rate limits", redis, container.ping_rate_limits),
        ]
    finally:
        container.close()
