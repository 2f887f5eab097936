"""Signing download links: what a gallery page costs the server besides its query.

A gallery page of 20 images signs 80 links (original, thumbnail, 2x thumbnail, preview each);
the target is a page of 100 links in under 2 ms on either store. Rows, each per 100 links:

- ``local /files``: ``LocalBlobStore.presign`` (HMAC link to an original on this app);
- ``local /derived``: ``DerivativeService.links`` (three HMAC links per image: thumb, thumb2x,
  preview), scaled to 100 links;
- ``S3 presign``: ``S3BlobStore.presign`` (pixvault's SigV4 signer, ``sigv4.QueryPresigner``);
- ``botocore``: ``generate_presigned_url`` with the same parameters (the baseline: what the S3
  links would cost without our signer);
- ``gallery page``: the links of one real page of 25 images (100 links) as the list service
  signs them, on a temporary SQLite database, local store and S3 store; printed next to the
  page's query (``ImageRepo.list``) and the whole ``ImageService.list`` call.

Offline: presigning is pure computation, and the S3 endpoint is a port nothing serves.
Each figure is the median of ``--rounds`` rounds (in turns, so load from elsewhere falls on
every row alike), each round the median of 31 timed repeats after one warm-up.

``python -m bench.signing [--rounds N]``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from bench.timing import median_ms
from pixvault.container import Container
from pixvault.core import keys
from pixvault.core.models import Image, ImageQuery, ImageStatus, User
from pixvault.core.names import content_disposition

ENDPOINT = "http://127.0.0.1:9"  # discard port: never contacted
BUCKET = "bench"
PREFIX = "images"
ACCESS, SECRET, REGION = "bench-access", "bench-secret", "us-east-1"
FILENAME = "holiday photo.jpg"  # a space: the disposition needs percent-encoding, as real names
PAGE = 100  # links per page in every row
GALLERY = 25  # images on the gallery page: 4 links each
TARGET_MS = 2.0
REPEAT = 31
LOCAL_FILES = "local /files (LocalBlobStore.presign)"
LOCAL_DERIVED = "local /derived (DerivativeService.links)"
S3_OURS = "S3 presign (pixvault SigV4)"
S3_BOTOCORE = "S3 presign (botocore, baseline)"
GALLERY_SIGN = ("gallery local: sign", "gallery S3: sign")


@dataclass(frozen=True, slots=True)
class Case:
    """One row: ``fn`` signs ``links`` links per call."""

    name: str
    fn: Callable[[], object]
    links: int


def s3_store() -> Any:
    """The S3 store the rows sign with (imported lazily, like the app: boto3 is an extra)."""
    from pixvault.storage.s3 import S3BlobStore

    return S3BlobStore(BUCKET, PREFIX, ENDPOINT, REGION, ACCESS, SECRET)


def botocore_case(page: Sequence[str], expires_at: datetime) -> Callable[[], object]:
    """botocore's presigner on the same keys and response-* parameters as ``S3BlobStore``."""
    client = boto3.client(
        "s3",
        endpoint_url=ENDPOINT,
        aws_access_key_id=ACCESS,
        aws_secret_access_key=SECRET,
        region_name=REGION,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )
    disposition = content_disposition("inline", FILENAME)

    def sign() -> None:
        expires_in = int(expires_at.timestamp() - datetime.now(UTC).timestamp())
        for key in page:
            client.generate_presigned_url(
                "get_object",
                Params={
                    "Bucket": BUCKET,
                    "Key": f"{PREFIX}/{key}",
                    "ResponseCacheControl": "private",
                    "ResponseContentDisposition": disposition,
                    "ResponseContentType": "image/jpeg",
                    "ResponseExpires": expires_at,
                },
                ExpiresIn=expires_in,
            )

    return sign


def presign_case(store: Any, page: Sequence[str], expires_at: datetime) -> Callable[[], object]:
    def sign() -> None:
        for key in page:
            store.presign(
                key,
                expires_at=expires_at,
                content_type="image/jpeg",
                disposition="inline",
                filename=FILENAME,
            )

    return sign


def _rows_for(owner: str, count: int, now: datetime) -> list[Image]:
    out = []
    for i in range(count):
        image_id = keys.new_id()
        out.append(
            Image(
                id=image_id,
                owner_id=owner,
                storage_key=keys.storage_key(owner, image_id, "jpg"),
                original_name=f"IMG_{i:04d} holiday.jpg",
                content_type="image/jpeg",
                size=1000,
                width=4000,
                height=3000,
                md5="0" * 32,
                sha256="0" * 64,
                tags=(),
                is_public=False,
                status=ImageStatus.READY,
                uploaded_at=now,
            )
        )
    return out


def _gallery_cases(container: Container, user: User, label: str) -> list[Case]:
    """The list service's own signing of one page (``ImageService._signed`` per row, what
    ``list`` does after its query), the page's query alone, and the whole ``list`` call."""
    query = ImageQuery(limit=GALLERY)
    rows = container.database.image_repo.list(user.id, query).images
    rows = rows[:GALLERY]
    assert len(rows) == GALLERY, len(rows)
    images = container.images
    repo = container.database.image_repo

    def sign_page() -> None:
        expires_at = images._view_expiry()  # as ``list`` does: one expiry for the page
        for row in rows:
            images._signed(row, expires_at)

    return [
        Case(f"gallery {label}: sign", sign_page, 4 * GALLERY),
        Case(f"gallery {label}: query", lambda: repo.list(user.id, query), 4 * GALLERY),
        Case(f"gallery {label}: list()", lambda: images.list(user, query), 4 * GALLERY),
    ]


def _s3_cases(page: Sequence[str], expires_at: datetime) -> list[Case]:
    return [
        Case(S3_OURS, presign_case(s3_store(), page, expires_at), PAGE),
        Case(S3_BOTOCORE, botocore_case(page, expires_at), PAGE),
    ]


def _medians(cases: Sequence[Case], rounds: int) -> dict[str, float]:
    """Median ms per 100 links of each case: ``rounds`` rounds of every case in turns."""
    samples: dict[str, list[float]] = {case.name: [] for case in cases}
    for _ in range(rounds):
        for case in cases:
            samples[case.name].append(median_ms(case.fn, repeat=REPEAT) * PAGE / case.links)
    return {name: statistics.median(values) for name, values in samples.items()}


def _page() -> tuple[list[str], datetime]:
    owner = keys.new_id()
    expires_at = (datetime.now(UTC) + timedelta(hours=1)).replace(microsecond=0)
    return [keys.storage_key(owner, keys.new_id(), "jpg") for _ in range(PAGE)], expires_at


def measure(rounds: int) -> dict[str, float]:
    """Every row: name -> median ms per 100 links (per call for the query and ``list()``)."""
    from pixvault.container import build_container
    from pixvault.metadata.migrate import upgrade
    from pixvault.settings import Settings

    page, expires_at = _page()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        common: dict[str, Any] = {
            "_env_file": None,
            "secret_key": "bench-secret-key-" + "x" * 32,
            "background_derivatives": False,
            "derivative_workers": 1,
        }
        s3_settings: dict[str, Any] = {
            "storage_url": f"s3://{BUCKET}/{PREFIX}",
            "s3_endpoint_url": ENDPOINT,
            "s3_region": REGION,
            "s3_access_key_id": ACCESS,
            "s3_secret_access_key": SECRET,
        }
        containers = []
        for name, extra in (("local", {}), ("s3", s3_settings)):
            settings = Settings(data_dir=tmp / name, **common, **extra)
            settings.data_dir.mkdir()
            upgrade(settings.resolved_database_url)
            containers.append(build_container(settings))
        local, s3 = containers
        try:
            users = []
            now = datetime.now(UTC)
            for container in containers:
                user = container.auth.create_user("bench@example.com", "bench-password")
                container.database.image_repo.add_many(_rows_for(user.id, 4 * GALLERY, now))
                users.append(user)
            derived = local.derivatives
            derived_rows = _rows_for(keys.new_id(), -(-PAGE // 3), now)  # 34 images: 102 links

            def derived_links() -> None:
                for row in derived_rows:
                    derived.links(row, expires_at)

            cases = [
                Case(LOCAL_FILES, presign_case(local.blobs, page, expires_at), PAGE),
                Case(LOCAL_DERIVED, derived_links, 3 * len(derived_rows)),
                *_s3_cases(page, expires_at),
                *_gallery_cases(local, users[0], "local"),
                *_gallery_cases(s3, users[1], "S3"),
            ]
            return _medians(cases, rounds)
        finally:
            for container in containers:
                container.close()


def rows() -> list[tuple[str, float, str, float]]:
    """The S3 row of ``bench/__main__``'s request-path table: ours vs botocore, 100 links."""
    found = _medians(_s3_cases(*_page()), 3)
    return [
        (
            "presign 100 S3 URLs (pixvault)",
            found[S3_OURS],
            "botocore generate_presigned_url x100",
            found[S3_BOTOCORE],
        )
    ]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.signing")
    parser.add_argument("--rounds", type=int, default=5, help="rounds; the median is printed")
    args = parser.parse_args(argv)
    found = measure(args.rounds)
    base = found[S3_BOTOCORE]
    print(f"\nsigning links, {PAGE} a page (median of {args.rounds} rounds)")
    print(f"{'':46} {'links/s':>9} {'ms/100':>8} {'vs botocore':>12}")
    for name in (LOCAL_FILES, LOCAL_DERIVED, S3_OURS, S3_BOTOCORE, *GALLERY_SIGN):
        ms = found[name]
        print(f"{name:46} {PAGE / ms * 1000:9,.0f} {ms:8.3f} {ms / base:12.3f}")
    title = f"gallery page of {GALLERY} images ({4 * GALLERY} links), ms"
    print(f"\n{title:46} {'sign':>6} {'query':>7} {'list()':>7}")
    for label in ("local", "S3"):
        parts = [found[f"gallery {label}: {part}"] for part in ("sign", "query", "list()")]
        print(f"{label:46} {parts[0]:6.3f} {parts[1]:7.3f} {parts[2]:7.3f}")
    for label in ("local", "S3"):
        ms = found[f"gallery {label}: sign"]
        verdict = "met" if ms < TARGET_MS else "MISSED"
        print(f"target: 100 links ({label} page) in < {TARGET_MS:.0f} ms -> {ms:.2f}: {verdict}")


if __name__ == "__main__":
    main()
