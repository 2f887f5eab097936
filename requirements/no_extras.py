"""Run by `make test-floors` in a venv holding pixvault without extras: the embedded default must
build without boto3, psycopg or redis, and an S3 URL must fail with one line naming the extra."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from pixvault.container import build_container
from pixvault.settings import Settings, SettingsError

OPTIONAL = ("boto3", "psycopg", "redis")


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(_env_file=None, data_dir=Path(tmp))  # type: ignore[call-arg]
        container = build_container(settings)
        container.close()
        loaded = [name for name in OPTIONAL if name in sys.modules]
        if loaded:
            raise SystemExit(f"no_extras.py: the embedded container imported {loaded}")
        try:
            build_container(settings.model_copy(update={"storage_url": "s3://bucket"}))
        except SettingsError as exc:
            message = str(exc)
        else:
            raise SystemExit("no_extras.py: an s3:// URL built without boto3")
        if "pip install 'pixvault[s3]'" not in message:
            raise SystemExit(f"no_extras.py: unexpected message: {message}")
    print("no extras: the embedded container builds without boto3, psycopg and redis")


if __name__ == "__main__":
    main()
