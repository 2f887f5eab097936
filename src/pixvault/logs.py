"""How pixvault's own log lines look, set once per process (the CLI's, and each worker's)."""

from __future__ import annotations

import logging


def configure() -> None:
    """INFO and up to stderr as ``LEVEL logger: message``; a no-op if logging is set up."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
