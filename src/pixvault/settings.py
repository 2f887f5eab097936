"""Runtime configuration: PIXVAULT_* environment variables (and a .env file), read once.

The entry point builds one ``Settings`` and passes it down; nothing reads the environment later.
"""

from __future__ import annotations

import contextlib
import difflib
import ipaddress
import logging
import os
import secrets
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from limits import parse as parse_rate
from pydantic import AliasChoices, BeforeValidator, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

log = logging.getLogger(__name__)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
PREFIX = "PIXVAULT_"
MAX_WORKERS = 64
"""More serving processes than this is a typo, not a deployment."""
MIN_SECRET_BYTES = 32
"""An HMAC key shorter than this can be guessed or brute-forced; refuse to start with one."""


def _split_csv(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def _unset_if_empty(value: Any) -> Any:
    """``PIXVAULT_X=`` in an env file means "not set", the same as leaving the line out."""
    return None if isinstance(value, str) and not value.strip() else value


Optional = Annotated[str | None, BeforeValidator(_unset_if_empty)]


class SettingsError(Exception):
    """A setting that cannot be used; the message is one line naming the variable."""


class Settings(BaseSettings):
    """Every field is documented in README.md (a test keeps the two in step)."""

    model_config = SettingsConfigDict(
        env_prefix=PREFIX,
        env_file=".env",
        extra="ignore",
        frozen=True,
        validate_by_name=True,
        validate_by_alias=True,
    )

    data_dir: Path = Path("./data")
    database_url: Optional = None
    storage_url: Optional = None
    secret_key: Optional = None
    max_file_size: int = Field(default=10 * 1024 * 1024, ge=1)
    max_files_per_upload: int = Field(default=20, ge=1, le=1000)
    max_pixels: int = Field(default=50_000_000, ge=1)
    max_concurrent_uploads: int = Field(default=8, ge=1, le=1000)
    workers: Annotated[int | None, BeforeValidator(_unset_if_empty)] = Field(
        default=None, ge=1, le=MAX_WORKERS
    )
    threads: int = Field(default=8, ge=1, le=1000)
    derivative_workers: Annotated[int | None, BeforeValidator(_unset_if_empty)] = Field(
        default=None, ge=1, le=256
    )
    background_derivatives: bool = True
    repair_interval: Annotated[int | None, BeforeValidator(_unset_if_empty)] = Field(
        default=None, ge=60
    )
    repair_grace: int = Field(default=3600, ge=60)
    render_time_limit: float = Field(default=60.0, gt=0, le=3600)
    default_quota: int = Field(default=1024**3, ge=0)
    rate_limit: str = "1000/hour"
    auth_rate_limit: str = "20/minute"
    auth_failure_limit: str = "100/hour"
    allow_registration: bool = True
    trusted_proxies: Annotated[list[Network], NoDecode, BeforeValidator(_split_csv)] = []
    public_url: Optional = None
    token_ttl: int = Field(default=30 * 24 * 3600, ge=60)
    header_timeout: float = Field(default=10.0, gt=0, le=3600)
    body_timeout: float = Field(default=30.0, gt=0, le=3600)
    # What is removed from an upload before it is stored (core/privacy): privacy by default.
    strip_metadata: Literal["gps", "all", "none"] = "gps"
    s3_endpoint_url: Optional = None
    # The standard AWS variables are the fallback, so an existing AWS setup needs no new names.
    s3_region: Optional = Field(
        default=None,
        validation_alias=AliasChoices("PIXVAULT_S3_REGION", "AWS_REGION", "AWS_DEFAULT_REGION"),
    )
    s3_access_key_id: Optional = Field(
        default=None,
        validation_alias=AliasChoices("PIXVAULT_S3_ACCESS_KEY_ID", "AWS_ACCESS_KEY_ID"),
    )
    s3_secret_access_key: Optional = Field(
        default=None,
        validation_alias=AliasChoices("PIXVAULT_S3_SECRET_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY"),
    )
    s3_public_base_url: Optional = None
    # Seconds each call to the store may wait (to connect, then per read) before it is retried
    # (3 attempts): a store that hangs fails a request in about half a minute, not minutes.
    s3_timeout: float = Field(default=10.0, gt=0, le=600)
    redis_url: Optional = None
    redis_key_prefix: str = Field(default="pixvault", pattern=r"^[A-Za-z0-9_.:-]{1,64}$")

    @field_validator("rate_limit", "auth_rate_limit", "auth_failure_limit")
    @classmethod
    def _valid_rate(cls, value: str) -> str:
        try:
            parse_rate(value)
        except ValueError:
            raise ValueError(f"not a rate like '15/minute': {value!r}") from None
        return value

    @field_validator("public_url", "s3_endpoint_url", "s3_public_base_url")
    @classmethod
    def _valid_http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/") if value else value

    @field_validator("storage_url")
    @classmethod
    def _valid_storage_url(cls, value: str | None) -> str | None:
        if value is None or (value.startswith("s3://") and len(value) > len("s3://")):
            return value
        if not value.startswith("file:///"):
            raise ValueError("use file:///absolute/path or s3://bucket[/prefix]")
        return value

    @field_validator("redis_url")
    @classmethod
    def _valid_redis_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value

    @field_validator("secret_key")
    @classmethod
    def _strong_secret(cls, value: str | None) -> str | None:
        if value is not None and len(value.encode()) < MIN_SECRET_BYTES:
            raise ValueError(
                f"must be at least {MIN_SECRET_BYTES} bytes (e.g. `openssl rand -base64 48`)"
            )
        return value

    # Derived values: the defaults live under data_dir so a fresh checkout needs no setup.

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'pixvault.sqlite3').resolve()}"

    @property
    def blob_root(self) -> Path:
        if self.storage_url:
            return Path(self.storage_url.removeprefix("file://")).resolve()
        return (self.data_dir / "blobs").resolve()

    @property
    def resolved_workers(self) -> int:
        """Processes serving requests: one per core unless set."""
        return self.workers or os.cpu_count() or 1

    @property
    def resolved_derivative_workers(self) -> int:
        """Image worker processes per serving process: the cores shared among the serving
        processes unless set, so ``--workers N`` does not start N renderers per core."""
        return self.derivative_workers or max(1, (os.cpu_count() or 1) // self.resolved_workers)

    @property
    def rate_limit_file(self) -> Path:
        """Where several serving processes without Redis keep their shared rate limits."""
        return (self.data_dir / "ratelimit.sqlite3").resolve()

    @property
    def spool_dir(self) -> Path:
        return (self.data_dir / "tmp").resolve()

    @property
    def max_request_size(self) -> int:
        """Per-request cap: every file at its maximum plus 1 MiB for the other form fields."""
        return self.max_files_per_upload * self.max_file_size + 1024 * 1024

    def resolved_secret_key(self) -> bytes:
        """The HMAC key: from the environment, else generated once and kept 0600 in data_dir."""
        if self.secret_key is not None:
            return self.secret_key.encode()
        return _stored_secret(self.data_dir / "secret_key")


def _stored_secret(path: Path) -> bytes:
    """Read the generated key, creating it first if needed, safely against parallel starts.

    The key is written whole to a temp file and fsynced, then hard-linked into place: ``link``
    fails if the name exists, so of several processes starting at once exactly one key wins and
    nobody can ever read a half-written (or empty) file. Losers read the winner's key.
    """
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".secret_key-")
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_urlsafe(48))
                fh.flush()
                os.fsync(fh.fileno())
            # link() refuses an existing name: another process won the race, use its key.
            with contextlib.suppress(FileExistsError):
                os.link(tmp, path)
        finally:
            os.unlink(tmp)
    key = path.read_text().strip().encode()
    if len(key) < MIN_SECRET_BYTES:
        raise SettingsError(
            f"the generated secret key in {path} is shorter than {MIN_SECRET_BYTES} bytes: "
            "delete the file to make a new one (existing signed links stop working), "
            "or set PIXVAULT_SECRET_KEY"
        )
    return key


def _known_variables() -> set[str]:
    names = {f"{PREFIX}{name.upper()}" for name in Settings.model_fields}
    for field in Settings.model_fields.values():
        if isinstance(field.validation_alias, AliasChoices):
            names.update(str(choice) for choice in field.validation_alias.choices)
    return names


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """One warning line per ``PIXVAULT_*`` name that no setting reads: a typo is silently
    ignored otherwise, and the server runs with a default the operator meant to change."""
    known = _known_variables()
    found = []
    for name in sorted(environ):
        if name.upper().startswith(PREFIX) and name.upper() not in known:
            # Compared without the shared prefix, which would make every name look close.
            ours = sorted(k.removeprefix(PREFIX) for k in known if k.startswith(PREFIX))
            close = difflib.get_close_matches(name.upper().removeprefix(PREFIX), ours, n=1)
            hint = f" (did you mean {PREFIX}{close[0]}?)" if close else ""
            found.append(f"unknown setting {name} is ignored{hint}")
    return found


def _dotenv(path: Path) -> dict[str, str]:
    """Variable names in a .env file (values are not needed for the typo check)."""
    if not path.is_file():
        return {}
    names: dict[str, str] = {}
    for line in path.read_text(errors="replace").splitlines():
        name, sep, _ = line.removeprefix("export ").partition("=")
        if sep and name.strip() and not name.lstrip().startswith("#"):
            names[name.strip()] = ""
    return names


def load_settings(**overrides: Any) -> Settings:
    """Settings for an entry point: one line naming the variable on a bad value, and a warning
    for each PIXVAULT_* variable (in the environment or ./.env) that nothing reads."""
    for line in unknown_variables({**_dotenv(Path(".env")), **os.environ}):
        log.warning("%s", line)
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else "?"
        name = field.upper() if field.upper().startswith(PREFIX) else f"{PREFIX}{field.upper()}"
        message = str(first["msg"]).removeprefix("Value error, ")
        raise SettingsError(f"invalid setting {name}: {message}") from None
