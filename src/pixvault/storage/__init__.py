"""BlobStore adapters: where image bytes live (local disk, S3-compatible stores)."""
