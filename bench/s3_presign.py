"""Presigning a gallery page of 100 S3 links: pixvault's SigV4 signer vs botocore's.

Offline on both sides (presigning is pure computation), so the endpoint is a port nothing
serves: ``python -m bench.s3_presign``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import boto3
from botocore.config import Config

from bench.timing import median_ms
from pixvault.core import keys
from pixvault.core.names import content_disposition
from pixvault.storage.s3 import S3BlobStore

ENDPOINT = "http://127.0.0.1:9"  # discard port: never contacted
BUCKET = "bench"
ACCESS, SECRET, REGION = "bench-access", "bench-secret", "us-east-1"


def _median(fn: Callable[[], object]) -> float:
    return median_ms(fn, repeat=31)


def rows() -> list[tuple[str, float, str, float]]:
    store = S3BlobStore(BUCKET, "images", ENDPOINT, REGION, ACCESS, SECRET)
    client = boto3.client(
        "s3",
        endpoint_url=ENDPOINT,
        aws_access_key_id=ACCESS,
        aws_secret_access_key=SECRET,
        region_name=REGION,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )
    owner = keys.new_id()
    page = [keys.storage_key(owner, keys.new_id(), "jpg") for _ in range(100)]
    expires_at = datetime.now(UTC) + timedelta(hours=1)

    def ours() -> None:
        for key in page:
            store.presign(
                key,
                expires_at=expires_at,
                content_type="image/jpeg",
                disposition="inline",
                filename="holiday photo.jpg",
            )

    def botocore() -> None:
        for key in page:
            client.generate_presigned_url(
                "get_object",
                Params={
                    "Bucket": BUCKET,
                    "Key": f"images/{key}",
                    "ResponseContentType": "image/jpeg",
                    "ResponseContentDisposition": content_disposition(
                        "inline", "holiday photo.jpg"
                    ),
                },
                ExpiresIn=3600,
            )

    return [
        (
            "presign 100 S3 URLs (pixvault)",
            _median(ours),
            "botocore generate_presigned_url x100",
            _median(botocore),
        )
    ]


def main() -> None:
    print(f"{'measured':40} {'ms':>8}   {'baseline':38} {'ms':>8} {'ratio':>7}")
    for name, ms, base_name, base_ms in rows():
        print(f"{name:40} {ms:8.2f}   {base_name:38} {base_ms:8.2f} {ms / base_ms:7.3f}")


if __name__ == "__main__":
    main()
