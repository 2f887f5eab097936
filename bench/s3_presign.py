"""Presigning a gallery page of 100 S3 links: pixvault's SigV4 signer vs botocore's.

Folded into ``bench.signing`` (its S3 rows, next to the local store's links); this module keeps
``rows()`` for the request-path table of ``bench/__main__`` and ``python -m bench.s3_presign``.
Offline on both sides: presigning is pure computation.
"""

from __future__ import annotations

from bench.signing import rows

__all__ = ["main", "rows"]


def main() -> None:
    print(f"{'measured':40} {'ms':>8}   {'baseline':38} {'ms':>8} {'ratio':>7}")
    for name, ms, base_name, base_ms in rows():
        print(f"{name:40} {ms:8.2f}   {base_name:38} {base_ms:8.2f} {ms / base_ms:7.3f}")


if __name__ == "__main__":
    main()
