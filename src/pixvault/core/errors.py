"""Domain errors, each with a stable ``code``; only ``web/errors.py`` maps them to HTTP.

PixvaultError
├── InvalidInput            invalid_input      bad field, parameter or body
│   ├── UnsupportedType     unsupported_type   bytes are not an allowed, whole image
│   └── NotReady            not_ready          image exists but is not servable yet
├── TooLarge                too_large          a file (bytes or pixels) over its limit
│   ├── RequestTooLarge     request_too_large  the whole request over its cap
│   ├── TooManyFiles        too_many_files     more files than allowed per request
│   └── QuotaExceeded       quota_exceeded     the user's storage quota would be passed
├── NotFound                not_found          missing, malformed id, or not the caller's
├── Unauthenticated         unauthenticated    no, bad, expired or revoked token
│   └── InvalidCredentials  invalid_credentials  wrong email or password (one message for both)
├── Forbidden               forbidden          e.g. registration closed
│   └── BadSignature        invalid_signature  tampered or expired signed URL
├── Conflict                conflict           e.g. email already registered
├── RequestTimeout          request_timeout    the client stopped sending its request body
├── RateLimited             rate_limited       too many requests; carries retry_after
└── Unavailable             unavailable        a backend (database, blob store) does not answer
    └── InsufficientStorage insufficient_storage  the server's disk is full (not the user's quota)
"""

from __future__ import annotations


class PixvaultError(Exception):
    code = "error"
    default_message = "Something went wrong"

    def __init__(self, message: str | None = None) -> None:
        self.message = message or self.default_message
        super().__init__(self.message)


class InvalidInput(PixvaultError):
    code = "invalid_input"
    default_message = "Invalid input"


class UnsupportedType(InvalidInput):
    code = "unsupported_type"
    default_message = "Unsupported file type"


class NotReady(InvalidInput):
    code = "not_ready"
    default_message = "Image not ready"


class TooLarge(PixvaultError):
    code = "too_large"
    default_message = "File too large"


class RequestTooLarge(TooLarge):
    code = "request_too_large"
    default_message = "Request too large"


class TooManyFiles(TooLarge):
    code = "too_many_files"
    default_message = "Too many files in one upload"


class QuotaExceeded(TooLarge):
    code = "quota_exceeded"
    default_message = "Storage quota exceeded"


class NotFound(PixvaultError):
    code = "not_found"
    default_message = "Not found"


class Unauthenticated(PixvaultError):
    code = "unauthenticated"
    default_message = "Unauthorized"


class InvalidCredentials(Unauthenticated):
    code = "invalid_credentials"
    default_message = "Invalid email or password"


class Forbidden(PixvaultError):
    code = "forbidden"
    default_message = "Forbidden"


class BadSignature(Forbidden):
    code = "invalid_signature"
    default_message = "Invalid or expired link"


class Conflict(PixvaultError):
    code = "conflict"
    default_message = "Conflict"


class RequestTimeout(PixvaultError):
    code = "request_timeout"
    default_message = "Request body not received in time"


class RateLimited(PixvaultError):
    code = "rate_limited"
    default_message = "Rate limit exceeded"

    def __init__(self, retry_after: int, message: str | None = None) -> None:
        super().__init__(message)
        self.retry_after = max(1, retry_after)


class Unavailable(PixvaultError):
    code = "unavailable"
    default_message = "Service temporarily unavailable"


class InsufficientStorage(Unavailable):
    """The server ran out of disk (spool, blob store or database), not the user of quota.

    An ``Unavailable`` so that code treating a backend outage as "try again later" treats this
    one so too; the web layer answers it with 507, not 503.
    """

    code = "insufficient_storage"
    default_message = "The server is out of storage space"
