"""Adapters take plain arguments; only the container reads settings (architecture: "pick
backends in one place"). Building the S3 store from settings against the real SeaweedFS."""

from __future__ import annotations

import ast
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pixvault import container
from pixvault.core import keys
from pixvault.settings import Settings
from pixvault.storage.s3 import S3BlobStore
from tests.services.seaweed import SeaweedServer

LATER = datetime(2100, 1, 1, tzinfo=UTC)  # clamped to 7 days by the store
STORAGE = Path(__file__).resolve().parents[2] / "src" / "pixvault" / "storage"


def _pixvault_imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("pixvault"))
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("pixvault"):
            found.add(str(node.module))
    return found


@pytest.mark.parametrize("path", sorted(STORAGE.glob("*.py")), ids=lambda p: p.name)
def test_storage_adapters_import_only_the_core(path: Path) -> None:
    outside = {m for m in _pixvault_imports(path) if not m.startswith("pixvault.core")}
    assert outside <= {f"pixvault.storage.{p.stem}" for p in STORAGE.glob("*.py")}, outside


def test_no_test_double_ships_in_the_package() -> None:
    assert not (STORAGE / "memory.py").exists()


def _settings(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg, arg-type]


def test_container_builds_the_s3_store_from_settings(
    seaweed: SeaweedServer, tmp_path: Path
) -> None:
    bucket = seaweed.new_bucket()
    settings = _settings(
        storage_url=f"s3://{bucket}/some/prefix/",
        s3_endpoint_url=seaweed.endpoint_url,
        s3_access_key_id=seaweed.access_key,
        s3_secret_access_key=seaweed.secret_key,
    )
    assert settings.s3_region is None and settings.s3_public_base_url is None  # unset is None
    store = container.STORES["s3"](settings, b"unused")
    assert isinstance(store, S3BlobStore)
    assert (store.bucket, store.prefix, store.region) == (bucket, "some/prefix/", "us-east-1")
    store.ping()
    key = keys.storage_key(keys.new_id(), keys.new_id(), "png")
    src = tmp_path / "upload-x"
    src.write_bytes(b"via settings")
    store.put(key, src, size=12, content_type="image/png")
    listed = seaweed.client().list_objects_v2(Bucket=bucket)["Contents"]
    assert [o["Key"] for o in listed] == [f"some/prefix/{key}"]


def test_container_passes_region_and_public_base_url() -> None:
    settings = _settings(
        storage_url="s3://pix-vault",
        s3_region="cn-north-1",
        s3_access_key_id="AK",
        s3_secret_access_key="SK",
        s3_public_base_url="https://cdn.example.com",
    )
    store = container.STORES["s3"](settings, b"unused")
    key = keys.storage_key(keys.new_id(), keys.new_id(), "png")
    signed = store.presign(
        key,
        expires_at=LATER,
        content_type="image/png",
        disposition="attachment",
        filename="x.png",
    )
    assert signed.startswith(f"https://pix-vault.s3.cn-north-1.amazonaws.com.cn/{key}?")
    assert "%2Fcn-north-1%2Fs3%2Faws4_request" in signed
    public = store.presign(
        key,
        expires_at=LATER,
        content_type="image/png",
        disposition="inline",
        filename="x.png",
        public=True,
    )
    assert public == f"https://cdn.example.com/{key}"
