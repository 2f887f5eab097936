"""pixvault: a self-hosted image store with strict uploads, exact quotas and signed URLs."""

__version__ = "0.1.0"
__all__ = ["__version__"]
