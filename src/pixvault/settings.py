"""Runtime configuration: PIXVAULT_* environment variables (and a .env file), read once.

The entry point builds one ``Settings`` and passes it down; nothing reads the environment later.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from pathlib import Path
from typing import Annotated, Any

from limits import parse as parse_rate
from pydantic import BeforeValidator, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _split_csv(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    """Every field is documented in README.md (a test keeps the two in step)."""

    model_config = SettingsConfigDict(
        env_prefix="PIXVAULT_", env_file=".env", extra="ignore", frozen=True
    )

    data_dir: Path = Path("./data")
    database_url: str = ""
    storage_url: str = ""
    secret_key: str = ""
    max_file_size: int = Field(default=10 * 1024 * 1024, ge=1)
    max_files_per_upload: int = Field(default=20, ge=1, le=1000)
    max_pixels: int = Field(default=50_000_000, ge=1)
    default_quota: int = Field(default=1024**3, ge=0)
    rate_limit: str = "1000/hour"
    auth_rate_limit: str = "20/minute"
    allow_registration: bool = True
    trusted_proxies: Annotated[list[Network], NoDecode, BeforeValidator(_split_csv)] = []
    public_url: str = ""
    token_ttl: int = Field(default=30 * 24 * 3600, ge=60)
    s3_endpoint_url: str = ""
    s3_region: str = ""
    s3_access_key_id: str = ""
    s3_secret_access_key: str = ""
    s3_public_base_url: str = ""
    redis_url: str = ""
    redis_key_prefix: str = Field(default="pixvault", pattern=r"^[A-Za-z0-9_.:-]{1,64}$")

    @field_validator("rate_limit", "auth_rate_limit")
    @classmethod
    def _valid_rate(cls, value: str) -> str:
        try:
            parse_rate(value)
        except ValueError:
            raise ValueError(f"not a rate like '15/minute': {value!r}") from None
        return value

    @field_validator("public_url", "s3_endpoint_url", "s3_public_base_url")
    @classmethod
    def _valid_http_url(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("storage_url")
    @classmethod
    def _valid_storage_url(cls, value: str) -> str:
        if value.startswith("s3://") and len(value) > len("s3://"):
            return value
        if value and not value.startswith("file:///"):
            raise ValueError("use file:///absolute/path or s3://bucket[/prefix]")
        return value

    @field_validator("redis_url")
    @classmethod
    def _valid_redis_url(cls, value: str) -> str:
        if value and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value

    @property
    def s3_credentials(self) -> tuple[str | None, str | None, str | None]:
        """(access key, secret key, region): PIXVAULT_S3_* first, then the standard AWS_*."""
        return (
            self.s3_access_key_id or os.environ.get("AWS_ACCESS_KEY_ID") or None,
            self.s3_secret_access_key or os.environ.get("AWS_SECRET_ACCESS_KEY") or None,
            self.s3_region
            or os.environ.get("AWS_REGION")
            or os.environ.get("AWS_DEFAULT_REGION")
            or None,
        )

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
    def spool_dir(self) -> Path:
        return (self.data_dir / "tmp").resolve()

    @property
    def max_request_size(self) -> int:
        """Per-request cap: every file at its maximum plus 1 MiB for the other form fields."""
        return self.max_files_per_upload * self.max_file_size + 1024 * 1024

    def resolved_secret_key(self) -> bytes:
        """The HMAC key: from the environment, else generated once and kept 0600 in data_dir."""
        if self.secret_key:
            return self.secret_key.encode()
        path = self.data_dir / "secret_key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_urlsafe(48))
        return path.read_text().strip().encode()


class SettingsError(Exception):
    """A setting that cannot be used; the message is one line naming the variable."""


def load_settings(**overrides: Any) -> Settings:
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else "?"
        raise SettingsError(f"invalid setting PIXVAULT_{field.upper()}: {first['msg']}") from None
