"""Blobs as files under one root folder, served by the app through HMAC-signed links.

Errors of the filesystem under the root leave ``put`` as the port's: a full disk (or quota) is
``InsufficientStorage``, any other failure to write (read-only, I/O error, root gone) is
``Unavailable``. A wrong-sized source stays an ``OSError``, as the port says.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from pixvault.core import keys, signing
from pixvault.core.errors import InsufficientStorage, NotFound, Unavailable

_CHUNK = 1024 * 1024
_TMP_PREFIX = ".tmp-"
_PREFIX_RE = re.compile(r"(?:[0-9a-z-]+/)*[0-9a-z.-]*")  # no "..": parts start with [0-9a-z-]
_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})


@contextlib.contextmanager
def _translated() -> Iterator[None]:
    """Filesystem errors as the port's (see the module doc); errno-less ones pass through."""
    try:
        yield
    except OSError as exc:
        if exc.errno in _FULL:
            raise InsufficientStorage("Blob store is full") from exc
        if exc.errno is not None:
            raise Unavailable("Blob store is not writable") from exc
        raise


class LocalBlobStore:
    def __init__(self, root: Path, secret: bytes) -> None:
        self.root = root.resolve()
        self._signer = signing.Signer(secret)

    def _path(self, key: str) -> Path:
        # Keys are made by core.keys, so a bad one means a bug or tampering: refuse it outright
        # rather than let "../" or an absolute path reach the filesystem.
        if not keys.is_blob_key(key):
            raise ValueError(f"refusing storage key {key!r}")
        path = self.root / key
        # Exactly as deep below the root as the key has parts: no link may lead elsewhere.
        parents = path.resolve().parents
        if len(parents) <= key.count("/") or parents[key.count("/")] != self.root:
            raise ValueError(f"refusing storage key {key!r}")
        return path

    def put(self, key: str, path: Path, *, size: int, content_type: str) -> None:
        """Move the caller's file into place (``os.replace``), or copy it when it lives on
        another filesystem. Either way the bytes are fsynced before the name appears and the
        directory after, so a reader sees the old state or all of the new bytes, never a torn
        file, and a power cut cannot lose a blob whose upload was acknowledged."""
        dest = self._path(key)
        fd = os.open(path, os.O_RDONLY)
        try:
            found = os.fstat(fd).st_size
            if found != size:
                raise OSError(f"expected {size} bytes for {key}, read {found}")
            os.fsync(fd)  # else a crash after the rename could leave the name on empty blocks
        finally:
            os.close(fd)
        with _translated():
            _make_dirs(dest.parent)
            try:
                os.replace(path, dest)
            except OSError as exc:
                if exc.errno != errno.EXDEV:
                    raise
                self._copy(path, dest, key, size)  # another filesystem: a rename cannot cross it
            _fsync_dir(dest.parent)

    def _copy(self, src: Path, dest: Path, key: str, size: int) -> None:
        """Temp file in the destination folder, fsync, rename: atomic like the move."""
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=_TMP_PREFIX)
        try:
            with os.fdopen(fd, "wb") as out, src.open("rb") as source:
                written = 0
                while chunk := source.read(_CHUNK):
                    out.write(chunk)
                    written += len(chunk)
                out.flush()
                os.fsync(out.fileno())
            if written != size:
                raise OSError(f"expected {size} bytes for {key}, read {written}")
            os.replace(tmp, dest)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def iter_keys(self, prefix: str = "") -> Iterator[str]:
        if not _PREFIX_RE.fullmatch(prefix):
            raise ValueError(f"refusing key prefix {prefix!r}")
        # Walk only the folder the prefix names: one image's derivatives must not cost a walk
        # of the whole store.
        # Streamed with scandir, one directory handle per level: os.walk would first list a
        # whole directory, and one user's folder may hold a million originals.
        base = prefix.rpartition("/")[0]
        yield from self._scan(self.root / base, f"{base}/" if base else "", prefix)

    def _scan(self, folder: Path, rel: str, prefix: str) -> Iterator[str]:
        try:
            entries = os.scandir(folder)
        except (FileNotFoundError, NotADirectoryError):
            return
        with entries:
            for entry in entries:
                key = rel + entry.name
                if entry.is_dir(follow_symlinks=False):
                    if key.startswith(prefix) or prefix.startswith(key + "/"):
                        yield from self._scan(Path(entry.path), key + "/", prefix)
                elif (
                    entry.is_file(follow_symlinks=False)
                    and key.startswith(prefix)
                    and not entry.name.startswith(_TMP_PREFIX)
                ):
                    yield key

    def presign(
        self,
        key: str,
        *,
        expires_at: datetime,
        content_type: str,
        disposition: str,
        filename: str,
        public: bool = False,
    ) -> str:
        """A path on this app; the web layer makes it absolute with the public base URL."""
        return self._signer.file_link(key, int(expires_at.timestamp()), disposition)

    def download_to(self, key: str, dest: Path) -> None:
        try:
            shutil.copyfile(self._path(key), dest)
        except FileNotFoundError:
            raise NotFound("Image not found") from None

    def local_path(self, key: str) -> Path | None:
        path = self._path(key)
        return path if path.is_file() else None

    def ping(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            probe = tempfile.NamedTemporaryFile(dir=self.root, prefix=_TMP_PREFIX)  # noqa: SIM115
            probe.close()
            if shutil.disk_usage(self.root).free < _CHUNK:
                raise Unavailable("Blob store is full")
        except OSError as exc:
            raise Unavailable("Blob store is not writable") from exc


def _make_dirs(path: Path) -> None:
    """``mkdir -p`` whose new entries are durable: each created folder is fsynced into its
    parent, else a power cut could drop a new owner folder along with the blob inside it."""
    if path.is_dir():
        return
    _make_dirs(path.parent)
    # A concurrent put may have made it (and not yet fsynced it): fsync the parent either way.
    with contextlib.suppress(FileExistsError):
        path.mkdir()
    _fsync_dir(path.parent)


def _fsync_dir(path: Path) -> None:
    """Make the rename itself durable; without it a power cut can lose the new directory entry."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
