"""API shapes (camelCase, times in UTC with a Z): what clients see, not how rows are stored."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, StrictInt
from pydantic.alias_generators import to_camel

from pixvault.core.auth import MAX_EMAIL, MAX_PASSWORD, MIN_PASSWORD
from pixvault.core.images import MAX_URL_TTL
from pixvault.core.models import (
    AccessEntry,
    Image,
    PhotoMetadata,
    SignedImage,
    SignedUrl,
    User,
)
from pixvault.core.names import MAX_TAG_LENGTH, MAX_TAGS


def iso_z(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


UtcTime = Annotated[datetime, PlainSerializer(iso_z, return_type=str)]


class Schema(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


# --- requests ---------------------------------------------------------------------------------


# The bounds below are the core's own (so the OpenAPI document shows them and FastAPI refuses
# out-of-range values with a 400 before any work); the core still checks everything itself.


class CredentialsIn(Schema):
    """Sign-in: any password up to the longest one an account can have."""

    email: str = Field(min_length=1, max_length=MAX_EMAIL)
    password: str = Field(min_length=1, max_length=MAX_PASSWORD)


class NewAccountIn(CredentialsIn):
    """Sign-up: the password rules of a new account."""

    password: str = Field(min_length=MIN_PASSWORD, max_length=MAX_PASSWORD)


class PresignRequest(Schema):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")
    image_id: str = Field(max_length=64)
    purpose: Literal["view", "download"] = "view"
    expires_in: StrictInt = Field(default=3600, ge=1, le=MAX_URL_TTL)


Tag = Annotated[str, Field(min_length=1, max_length=MAX_TAG_LENGTH)]


class ImagePatchRequest(Schema):
    tags: list[Tag] | None = Field(
        default=None,
        max_length=MAX_TAGS,
        description="Replaces every tag; trimmed, lower-cased and de-duplicated.",
    )
    is_public: bool | None = Field(default=None, strict=True)


# --- responses --------------------------------------------------------------------------------


class QuotaOut(Schema):
    used: int
    limit: int


class UserOut(Schema):
    id: str
    email: str
    is_admin: bool
    storage_quota: QuotaOut

    @classmethod
    def of(cls, user: User) -> UserOut:
        return cls(
            id=user.id,
            email=user.email,
            is_admin=user.is_admin,
            storage_quota=QuotaOut(used=user.quota_used, limit=user.quota_limit),
        )


class UserResponse(Schema):
    success: bool = True
    user: UserOut


class LoginResponse(Schema):
    success: bool = True
    access_token: str
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105 - a scheme name, not a secret
    expires_at: UtcTime
    user: UserOut


class Dimensions(Schema):
    width: int
    height: int


class Checksums(Schema):
    md5: str
    sha256: str


class Location(Schema):
    latitude: float
    longitude: float


class PhotoOut(Schema):
    """Camera metadata read from the upload's EXIF; null where the file has none. ``location``
    only on a server that keeps positions (PIXVAULT_STRIP_METADATA=none)."""

    camera_make: str | None = None
    camera_model: str | None = None
    taken_at: UtcTime | None = None
    lens: str | None = None
    exposure: str | None = Field(default=None, examples=["1/250"])
    iso: int | None = None
    focal_length: float | None = Field(default=None, description="millimetres")
    location: Location | None = None

    @classmethod
    def of(cls, image: Image) -> PhotoOut:
        photo = image.photo or PhotoMetadata()
        where = None
        if photo.latitude is not None and photo.longitude is not None:
            where = Location(latitude=photo.latitude, longitude=photo.longitude)
        return cls(
            camera_make=photo.camera_make,
            camera_model=photo.camera_model,
            taken_at=image.taken_at,
            lens=photo.lens,
            exposure=photo.exposure,
            iso=photo.iso,
            focal_length=photo.focal_length,
            location=where,
        )


class UploadedImage(Schema):
    id: str
    original_name: str
    url: str
    url_expires_at: UtcTime
    size: int
    content_type: str
    dimensions: Dimensions
    thumbnail_url: str | None = Field(
        default=None,
        description="WebP, longest side 400 px; signed like `url`, with the same expiry",
    )
    thumbnail2x_url: str | None = Field(
        default=None,
        alias="thumbnail2xUrl",  # to_camel would say "thumbnail2XUrl"
        description="WebP, longest side 800 px (never larger than the original): the "
        "thumbnail for high-density screens (`srcset` 2x); made on its first fetch",
    )
    preview_url: str | None = Field(
        default=None,
        description="WebP, longest side 1600 px (never larger than the original)",
    )
    upload_checksums: Checksums = Field(
        description="of the bytes received; `checksums` (and `size`) describe the bytes stored, "
        "which differ when metadata was stripped"
    )


class GalleryImage(UploadedImage):
    uploaded_at: UtcTime
    tags: list[str]
    is_public: bool
    status: str = Field(
        description="`ready`; `failed` when the pixels cannot be decoded; `missing` when the "
        "repair pass (`pixvault fsck`) found the stored bytes gone (delete it)"
    )
    failure_reason: str | None = None
    placeholder: str | None = Field(
        default=None, description="ThumbHash (base64) of the thumbnail: a blurred stand-in"
    )
    taken_at: UtcTime | None = None


class ImageDetail(GalleryImage):
    checksums: Checksums
    metadata: PhotoOut


def _fields(image: Image, url: SignedUrl, base: str) -> dict[str, object]:
    return {
        "id": image.id,
        "original_name": image.original_name,
        "url": absolute(url.url, base),
        "url_expires_at": url.expires_at,
        "size": image.size,
        "content_type": image.content_type,
        "dimensions": Dimensions(width=image.width, height=image.height),
        "uploaded_at": image.uploaded_at,
        "tags": list(image.tags),
        "is_public": image.is_public,
        "status": image.status.value,
        "failure_reason": image.failure_reason,
        "placeholder": image.placeholder,
        "upload_checksums": Checksums(
            md5=image.upload_md5 or image.md5, sha256=image.upload_sha256 or image.sha256
        ),
        "taken_at": image.taken_at,
    }


def _derived(item: SignedImage, base: str) -> dict[str, object]:
    return {
        "thumbnail_url": absolute(item.thumbnail.url, base) if item.thumbnail else None,
        "thumbnail2x_url": absolute(item.thumbnail_2x.url, base) if item.thumbnail_2x else None,
        "preview_url": absolute(item.preview.url, base) if item.preview else None,
    }


def uploaded(item: SignedImage, base: str) -> UploadedImage:
    return UploadedImage.model_validate(
        {**_fields(item.image, item.url, base), **_derived(item, base)}
    )


def gallery(item: SignedImage, base: str) -> GalleryImage:
    return GalleryImage.model_validate(
        {**_fields(item.image, item.url, base), **_derived(item, base)}
    )


def detail(item: SignedImage, base: str) -> ImageDetail:
    img = item.image
    return ImageDetail.model_validate(
        {
            **_fields(img, item.url, base),
            **_derived(item, base),
            "checksums": Checksums(md5=img.md5, sha256=img.sha256),
            "status": img.status.value,
            "metadata": PhotoOut.of(img),
        }
    )


def absolute(url: str, base: str) -> str:
    """Stores that sign for the app return paths; remote stores return full URLs."""
    return base + url if url.startswith("/") else url


class UploadResponse(Schema):
    success: bool = True
    images: list[UploadedImage]
    total_uploaded: int


class Pagination(Schema):
    page: int
    limit: int
    total: int
    pages: int
    next_cursor: str | None = Field(
        default=None,
        description="pass as `cursor` for the next page (stable while images come and go); "
        "null on the last page",
    )
    total_exact: bool = Field(
        default=True,
        description="false when a tag or name filter matches more than 10,000 images: "
        "`total` is then 10,000 and counting stopped there",
    )


class GalleryResponse(Schema):
    success: bool = True
    images: list[GalleryImage]
    pagination: Pagination


class ImageResponse(Schema):
    success: bool = True
    image: ImageDetail


class PresignResponse(Schema):
    success: bool = True
    url: str
    expires_at: UtcTime


class MessageResponse(Schema):
    success: bool = True
    message: str


class AccessEntryOut(Schema):
    accessed_at: UtcTime
    purpose: str
    ip: str

    @classmethod
    def of(cls, entry: AccessEntry) -> AccessEntryOut:
        return cls(accessed_at=entry.accessed_at, purpose=entry.purpose.value, ip=entry.ip)


class AccessLogResponse(Schema):
    success: bool = True
    entries: list[AccessEntryOut]
    pagination: Pagination


class ErrorResponse(BaseModel):
    error: str
    code: str


class StatusResponse(BaseModel):
    status: str
