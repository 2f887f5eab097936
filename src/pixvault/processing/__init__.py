"""The ImageProcessor adapter: Pillow in a bounded pool of worker processes."""

from pixvault.processing.pool import ProcessImageProcessor

__all__ = ["ProcessImageProcessor"]
