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
    from pixvault.metadata.migrate import current_revision, head_revision
    from pixvault.ratelimit.ping import ping_redis

    container = build_container(settings)
    db_url = settings.resolved_database_url
    try:

        def database() -> str:
            container.database.ping()
            current, head = current_revision(db_url), head_revision()
            if current != head:
                return f"answers; schema at {current}, head is {head}: run `pixvault db upgrade`"
            return f"answers; schema at head ({head})"

        def blobs() -> str:
            container.blobs.ping()
            return "answers"

        def limiter() -> str:
            if not settings.redis_url:
                return "in-process (single API process only)"
            ping_redis(settings.redis_url)
            return "answers"

        storage = settings.storage_url or f"file://{settings.blob_root}"
        return [
            _run("database", redact(db_url), database),
            _run("blob store", storage, blobs),
            _run("rate limits", redact(settings.redis_url) or "memory", limiter),
        ]
    finally:
        container.close()
