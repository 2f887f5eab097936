"""BlobStore adapters: where image bytes live (local disk now, S3-compatible stores next)."""
