"""The upload floor: what storing one file costs with nothing but the work every upload must do.

``python -m bench.upload_floor FILE DIR START SECONDS`` reads FILE once, waits for the wall
clock ``START`` (so that several of these processes time the same window), then until
``START + SECONDS`` hashes the bytes (md5 + sha256), writes them to a new file in DIR and
fsyncs it, and prints how many it finished. No HTTP, no parsing, no database: the benchmark
runs one per core and adds their counts.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from pathlib import Path


def store_loop(data: bytes, folder: Path, start: float, seconds: float) -> int:
    """Files hashed, written and fsynced between ``start`` and ``start + seconds``."""
    time.sleep(max(0.0, start - time.time()))
    end = start + seconds
    done = 0
    tag = os.getpid()
    while time.time() < end:
        hashlib.md5(data, usedforsecurity=False).hexdigest()
        hashlib.sha256(data).hexdigest()
        fd = os.open(folder / f"{tag}-{done}", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        done += 1
    return done


def main(argv: list[str]) -> None:
    path, folder, start, seconds = argv
    print(store_loop(Path(path).read_bytes(), Path(folder), float(start), float(seconds)))


if __name__ == "__main__":
    main(sys.argv[1:])
