"""ImageService: upload, list, sign and delete images, plus get, update and the access log."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from pixvault.core import faults, keys, media, paging, signing
from pixvault.core.errors import (
    BadSignature,
    InvalidInput,
    NotFound,
    NotReady,
    QuotaExceeded,
    TooLarge,
    TooManyFiles,
    UnsupportedType,
)
from pixvault.core.models import (
    AccessEntry,
    Download,
    Image,
    ImageQuery,
    ImageStatus,
    IncomingFile,
    MediaInfo,
    Page,
    Purpose,
    SignedImage,
    SignedUrl,
    UploadOptions,
    User,
)
from pixvault.core.names import display_name, search_term, tag_filter
from pixvault.core.pipeline.service import DerivativeService
from pixvault.core.ports import BlobStore, Clock, ImagePatch, ImageRepo, UserRepo
from pixvault.core.privacy import Prepared, StripMode, prepare
from pixvault.core.spool import human_size

log = logging.getLogger(__name__)

DEFAULT_URL_TTL = 3600
VIEW_LINK_STEP = 300
"""Seconds: links shown in galleries expire on these boundaries (see ``_view_expiry``)."""
MAX_URL_TTL = 604_800  # 7 days: the longest an S3 SigV4 presigned URL may live
MAX_PAGE_SIZE = 100
SERVABLE = frozenset({ImageStatus.READY, ImageStatus.FAILED})
"""An image whose pixels could not be processed is still its owner's file: it can be
downloaded (and deleted); only its derivatives are replaced by a neutral image."""
MAX_PAGE = 1_000_000
"""Deeper pages are refused: their OFFSET would overflow the databases' 64-bit integers."""


@dataclass(frozen=True, slots=True)
class UploadLimits:
    max_file_size: int
    max_files: int
    max_pixels: int


def check_paging(page: int, limit: int) -> None:
    if not 1 <= page <= MAX_PAGE:
        raise InvalidInput(f"page must be an integer from 1 to {MAX_PAGE}")
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise InvalidInput(f"limit must be an integer from 1 to {MAX_PAGE_SIZE}")


class ImageService:
    def __init__(
        self,
        *,
        images: ImageRepo,
        users: UserRepo,
        blobs: BlobStore,
        clock: Clock,
        limits: UploadLimits,
        url_secret: bytes,
        derivatives: DerivativeService | None = None,
        strip: StripMode = StripMode.GPS,
    ) -> None:
        self._images = images
        self._users = users
        self._blobs = blobs
        self._clock = clock
        self._limits = limits
        self._secret = url_secret
        self._derived = derivatives
        self._strip = strip

    # --- upload -------------------------------------------------------------------------------

    def upload(
        self, owner: User, files: Sequence[IncomingFile], options: UploadOptions
    ) -> list[SignedImage]:
        """All or nothing: every file is checked before quota is reserved or a byte is stored,
        and anything that fails afterwards undoes the blobs and the reservation."""
        if not files:
            raise InvalidInput("No files uploaded: send one or more 'files' parts")
        if len(files) > self._limits.max_files:
            raise TooManyFiles(f"Too many files (max {self._limits.max_files} per upload)")
        checked = [(f, self._inspect(f)) for f in files]
        prepared: list[tuple[Prepared, MediaInfo]] = []
        try:
            # Stripped copies are made before quota or the store see anything: a position is
            # never written to the store, and the quota counts the bytes actually stored.
            for incoming, info in checked:
                prepared.append((self._strip_metadata(incoming, info), info))
            return self._store(owner, prepared, options)
        finally:
            for item, _ in prepared:
                item.discard()

    def _store(
        self, owner: User, prepared: list[tuple[Prepared, MediaInfo]], options: UploadOptions
    ) -> list[SignedImage]:
        total = sum(item.stored.size for item, _ in prepared)
        # The conditional UPDATE is the only guard: checking `used` first and writing later
        # would let parallel uploads each see room and together overrun the quota.
        reservation = keys.new_id()
        if not self._users.reserve_quota(
            owner.id, total, reservation=reservation, now=self._clock.now()
        ):
            raise QuotaExceeded(
                f"Storage quota exceeded: this upload needs {human_size(total)}. "
                "Delete some images to free space."
            )
        faults.point("upload.reserved")
        written: list[str] = []
        try:
            now = self._clock.now()
            rows: list[Image] = []
            for item, info in prepared:
                image_id = keys.new_id()
                key = keys.storage_key(owner.id, image_id, info.ext)
                stored = item.stored
                # The store may move the spooled file into place: nothing reads it after this.
                # Counted as written first: a put that fails after the store kept the bytes
                # (the reply was lost) is undone too; deleting a missing key is no error.
                written.append(key)
                self._blobs.put(key, stored.path, size=stored.size, content_type=info.mime)
                rows.append(self._new_row(owner, image_id, key, item, info, options, now))
            faults.point("upload.stored")
            self._images.add_many(rows, reservation=reservation)
        except BaseException:
            self._undo_upload(owner.id, total, written, reservation)
            raise
        faults.point("upload.committed")
        if self._derived is not None:
            self._derived.schedule(rows)  # thumbnails and previews: queued, never waited for
        expires_at = self._view_expiry()
        return [self._signed(row, expires_at) for row in rows]

    def _strip_metadata(self, incoming: IncomingFile, info: MediaInfo) -> Prepared:
        try:
            # In place: the spooled upload is ours and read by nobody after this, so a strip
            # that keeps every length costs no second copy of the bytes.
            return prepare(incoming, info.format, self._strip, in_place=True)
        except UnsupportedType as exc:
            name = display_name(incoming.original_name)
            raise UnsupportedType(
                f'"{name}" is not a supported image type ({exc.message})'
            ) from None

    def _inspect(self, incoming: IncomingFile) -> MediaInfo:
        name = display_name(incoming.original_name)
        if incoming.size > self._limits.max_file_size:
            raise TooLarge(f'"{name}" is too large (max {human_size(self._limits.max_file_size)})')
        if incoming.size == 0:
            raise UnsupportedType(f'"{name}" is empty: not a supported image type')
        try:
            return media.inspect(incoming.path, max_pixels=self._limits.max_pixels)
        except UnsupportedType as exc:
            raise UnsupportedType(
                f'"{name}" is not a supported image type ({exc.message})'
            ) from None
        except TooLarge as exc:
            raise TooLarge(f'"{name}" is too large ({exc.message})') from None

    @staticmethod
    def _new_row(
        owner: User,
        image_id: str,
        key: str,
        item: Prepared,
        info: MediaInfo,
        options: UploadOptions,
        now: datetime,
    ) -> Image:
        """Size and checksums describe the stored bytes; the upload checksums (only when they
        differ) what the client sent, so it can still verify its upload."""
        stored, received = item.stored, item.received
        return Image(
            id=image_id,
            owner_id=owner.id,
            storage_key=key,
            original_name=display_name(received.original_name),
            content_type=info.mime,
            size=stored.size,
            width=info.width,
            height=info.height,
            md5=stored.md5,
            sha256=stored.sha256,
            tags=tuple(sorted(options.tags)),
            is_public=options.is_public,
            status=ImageStatus.READY,
            uploaded_at=now,
            upload_md5=received.md5 if item.stripped else None,
            upload_sha256=received.sha256 if item.stripped else None,
            taken_at=item.taken_at,
            photo=item.photo,
        )

    def _undo_upload(self, owner_id: str, total: int, written: list[str], reservation: str) -> None:
        for key in written:
            try:
                self._blobs.delete(key)
            except Exception:
                log.exception("could not delete blob %s after a failed upload", key)
        try:
            self._users.release_quota(owner_id, total, reservation=reservation)
        except Exception:
            log.exception("could not release %d bytes of quota for %s", total, owner_id)

    # --- read ---------------------------------------------------------------------------------

    def list(self, owner: User, query: ImageQuery, cursor: str = "") -> Page[SignedImage]:
        """One gallery page: by page number (the seed's paging) or after ``cursor`` (the
        ``next_cursor`` of the previous page: stable while images come and go)."""
        check_paging(query.page, query.limit)
        # Normalised here, not in a route, so every caller matches names and tags as stored.
        query = replace(
            query,
            search=search_term(query.search),
            tags=tag_filter(query.tags),
            after_id=paging.decode_cursor(cursor) if cursor else None,
            peek=True,
        )
        rows, total, exact = self._images.list(owner.id, query)
        more = len(rows) > query.limit
        rows = rows[: query.limit]
        expires_at = self._view_expiry()
        items = [self._signed(row, expires_at) for row in rows]
        return Page(
            items=items,
            total=total if exact else paging.COUNT_CAP,
            page=query.page,
            limit=query.limit,
            next_cursor=paging.encode_cursor(rows[-1].id) if more else None,
            exact=exact,
        )

    def get(self, owner: User, image_id: str) -> SignedImage:
        return self._signed(self._owned(owner, image_id), self._view_expiry())

    def update(self, owner: User, image_id: str, patch: ImagePatch) -> SignedImage:
        if not keys.is_id(image_id):
            raise NotFound("Image not found")
        row = self._images.update(owner.id, image_id, patch)
        if row is None:
            raise NotFound("Image not found")
        return self._signed(row, self._view_expiry())

    def access_log(self, owner: User, image_id: str, page: int, limit: int) -> Page[AccessEntry]:
        check_paging(page, limit)
        row = self._owned(owner, image_id)
        entries, total = self._images.list_access(row.id, page, limit)
        return Page(items=entries, total=total, page=page, limit=limit)

    # --- sign ---------------------------------------------------------------------------------

    def presign(
        self, owner: User, image_id: str, purpose: Purpose, expires_in: int, client_ip: str
    ) -> SignedUrl:
        if not 1 <= expires_in <= MAX_URL_TTL:
            raise InvalidInput(f"expiresIn must be an integer from 1 to {MAX_URL_TTL} seconds")
        row = self._owned(owner, image_id)
        if row.status is ImageStatus.MISSING:
            raise NotReady("The image's stored file is missing; delete the image")
        if row.status not in SERVABLE:
            raise NotReady("Image not ready")
        # Whole seconds: the expiry travels in the URL as an integer and is reported the same.
        expires_at = (self._clock.now() + timedelta(seconds=expires_in)).replace(microsecond=0)
        signed = self._sign(row, purpose, expires_at)
        self._images.add_access(
            AccessEntry(
                image_id=row.id, accessed_at=self._clock.now(), purpose=purpose, ip=client_ip
            )
        )
        return signed

    def _view_expiry(self) -> datetime:
        """When the links of a page expire: ``DEFAULT_URL_TTL`` from now, rounded up to the
        next ``VIEW_LINK_STEP``, so every page shown within one step carries the very same
        links and the browser serves thumbnails it already has from its cache."""
        at = math.ceil((self._clock.now().timestamp() + DEFAULT_URL_TTL) / VIEW_LINK_STEP)
        return datetime.fromtimestamp(at * VIEW_LINK_STEP, UTC)

    def _signed(self, row: Image, expires_at: datetime) -> SignedImage:
        url = self._sign(row, Purpose.VIEW, expires_at)
        if self._derived is None:
            return SignedImage(image=row, url=url)
        links = self._derived.links(row, url.expires_at)
        return SignedImage(
            image=row,
            url=url,
            thumbnail=links["thumb"],
            thumbnail_2x=links["thumb2x"],
            preview=links["preview"],
        )

    def _sign(self, row: Image, purpose: Purpose, expires_at: datetime) -> SignedUrl:
        url = self._blobs.presign(
            row.storage_key,
            expires_at=expires_at,
            content_type=row.content_type,
            disposition=purpose.disposition,
            filename=row.original_name,
            public=row.is_public,
        )
        return SignedUrl(url=url, expires_at=expires_at)

    def download(self, key: str, expires: str, disposition: str, signature: str) -> Download:
        """Check a link made by a store that signs with our key (local disk)."""
        if not keys.is_storage_key(key):
            raise BadSignature()
        now = self._clock.now()
        exp = signing.check(self._secret, key, expires, disposition, signature, now.timestamp())
        row = self._images.get_by_key(key)
        path = self._blobs.local_path(key)
        if row is None or row.status not in SERVABLE or path is None:
            raise NotFound("Image not found")
        return Download(
            image=row,
            path=path,
            disposition=disposition,
            max_age=max(0, math.floor(exp - now.timestamp())),
        )

    # --- delete -------------------------------------------------------------------------------

    def delete(self, owner: User, image_id: str) -> None:
        """Row (and quota) first, bytes second: a crash in between leaves an orphan blob (bytes
        nobody can reach or is charged for), never a row pointing at missing bytes."""
        if not keys.is_id(image_id):
            raise NotFound("Image not found")
        row = self._images.delete_and_refund(owner.id, image_id)
        if row is None:
            raise NotFound("Image not found")
        faults.point("delete.row")
        try:
            self._blobs.delete(row.storage_key)
        except Exception:
            log.exception("image %s deleted but its blob %s was not", row.id, row.storage_key)
        faults.point("delete.original")
        if self._derived is not None:
            try:
                self._derived.purge(row)
            except Exception:
                log.exception("image %s deleted but some of its derivatives were not", row.id)

    def _owned(self, owner: User, image_id: str) -> Image:
        row = self._images.get(owner.id, image_id) if keys.is_id(image_id) else None
        if row is None:
            raise NotFound("Image not found")
        return row
