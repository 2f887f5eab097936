"""Request-path costs of pixvault, each against a baseline measured in the same run.

Rows:
- checking a 12 MP JPEG (sniff + header + structure walk) vs fully decoding it (the baseline
  the upload path must avoid);
- hashing + spooling + storing the same file vs decoding it;
- signing a gallery page of 100 URLs vs the SQLite query that fetches that page;
- one whole upload through the ASGI app vs decoding the file;
- presigning 100 S3 URLs with pixvault's SigV4 signer vs botocore's presigner.

Then `bench.pipeline` prints the image pipeline table, and `bench.upload` the upload
throughput through a live server with background derivatives on and off, `bench.upload_compare`
uploads/s against thumbor's upload endpoint and the hash + fsync floor, `bench.memory` the
server's peak memory under big uploads, and `bench.gallery` the gallery listing of 100,000
images on SQLite and PostgreSQL against a bare FastAPI app (see bench/README.md).

`python -m bench.pg_plan` prints the PostgreSQL query plans of the gallery queries.
"""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

from PIL import Image

from bench.timing import median_ms
from pixvault.core import keys, media
from pixvault.core.models import ImageQuery
from pixvault.core.spool import Spool
from pixvault.storage.local import LocalBlobStore


def _jpeg_12mp() -> bytes:
    rng = Image.effect_noise((4000, 3000), 64).convert("RGB")
    gradient = Image.linear_gradient("L").resize((4000, 3000)).convert("RGB")
    buf = io.BytesIO()
    Image.blend(rng, gradient, 0.5).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def main() -> None:
    from starlette.testclient import TestClient

    from pixvault.container import build_container
    from pixvault.metadata.migrate import upgrade
    from pixvault.settings import Settings
    from pixvault.web.app import create_app

    data = _jpeg_12mp()
    rows: list[tuple[str, float, str, float]] = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        src = tmp / "photo.jpg"
        src.write_bytes(data)

        def decode() -> None:
            with Image.open(src) as im:
                im.load()

        decode_ms = median_ms(decode, repeat=7)
        check_ms = median_ms(lambda: media.inspect(src, max_pixels=50_000_000))
        rows.append(("check 12 MP JPEG (header + structure)", check_ms, "full decode", decode_ms))

        store = LocalBlobStore(tmp / "blobs", b"k")
        owner = keys.new_id()

        def hash_and_store() -> None:
            spool = Spool(tmp, "photo.jpg", 50 * 1024 * 1024)
            with src.open("rb") as fh:
                while chunk := fh.read(64 * 1024):
                    spool.write(chunk)
            incoming = spool.finish()
            store.put(  # moves the spool file into place (same filesystem)
                keys.storage_key(owner, keys.new_id(), "jpg"),
                incoming.path,
                size=incoming.size,
                content_type="image/jpeg",
            )
            incoming.path.unlink(missing_ok=True)

        store_ms = median_ms(hash_and_store)
        rows.append(("md5+sha256 + spool + store (move)", store_ms, "full decode", decode_ms))

        settings = Settings(
            _env_file=None,
            data_dir=tmp / "data",
            secret_key="bench-secret-key-" + "x" * 32,  # type: ignore[call-arg]
            rate_limit="1000000/hour",
        )
        settings.data_dir.mkdir()
        upgrade(settings.resolved_database_url)
        container = build_container(settings)
        user = container.auth.create_user("bench@example.com", "bench-password")
        small = io.BytesIO()
        Image.new("RGB", (8, 8)).save(small, "PNG")
        with TestClient(create_app(settings, container)) as client:
            token = client.post(
                "/api/auth/login", json={"email": "bench@example.com", "password": "bench-password"}
            ).json()
            h = {"Authorization": f"Bearer {token['accessToken']}"}
            for _ in range(10):
                client.post(
                    "/api/images/upload",
                    headers=h,
                    files=[("files", (f"{i}.png", small.getvalue())) for i in range(10)],
                )
            page = container.database.image_repo.list(user.id, ImageQuery(limit=100))[0]

            def query() -> None:
                container.database.image_repo.list(user.id, ImageQuery(limit=100))

            def sign_page() -> None:
                for image in page:
                    container.blobs.presign(
                        image.storage_key,
                        expires_at=image.uploaded_at,
                        content_type=image.content_type,
                        disposition="inline",
                        filename=image.original_name,
                    )

            rows.append(
                (
                    "sign 100 URLs",
                    median_ms(sign_page),
                    "fetch page of 100 (SQLite)",
                    median_ms(query),
                )
            )

            def upload() -> None:
                r = client.post(
                    "/api/images/upload",
                    headers=h,
                    files=[("files", ("photo.jpg", data, "image/jpeg"))],
                )
                assert r.status_code == 200, r.text
                client.delete(f"/api/images/{r.json()['images'][0]['id']}", headers=h)

            rows.append(
                (
                    "upload 12 MP JPEG via HTTP app",
                    median_ms(upload, repeat=7),
                    "full decode",
                    decode_ms,
                )
            )
        container.close()

    from bench import s3_presign, signing

    rows.extend(s3_presign.rows())
    print(f"12 MP JPEG: {len(data) / 1e6:.1f} MB\n")
    print(f"{'measured':40} {'ms':>8}   {'baseline':28} {'ms':>8} {'ratio':>7}")
    for name, ms, base_name, base_ms in rows:
        print(f"{name:40} {ms:8.2f}   {base_name:28} {base_ms:8.2f} {ms / base_ms:7.2f}")
    signing.main([])  # links/s and ms per page of 100 on both stores vs botocore (bench/README.md)

    from bench import pipeline

    pipeline.main()  # derivatives vs Pillow, pyvips and thumbor (bench/README.md)

    from bench import upload as upload_bench

    print()
    upload_bench.main()  # upload throughput with background derivatives on vs off

    from bench import memory, upload_compare

    print()
    upload_compare.main()  # uploads/s vs thumbor's upload endpoint and the fsync floor
    print()
    memory.main()  # the server's peak RSS under a 50 MB upload and 32 concurrent 10 MB ones

    from bench import gallery

    print()
    gallery.main()  # gallery listing of 100,000 images vs a bare FastAPI app, both databases


if __name__ == "__main__":
    main()
