"""Where the per-request log goes when the project has not configured logging for it."""
from __future__ import annotations

import logging
import sys

# One line per RPC (method, status, duration, peer); django-socio-grpc's name for it.
REQUEST_LOGGER = "django_socio_grpc.request"


def ensure_log_output() -> None:
    """Show the per-RPC log on stdout, like the banner, unless logging is configured for it."""
    logger = logging.getLogger(REQUEST_LOGGER)
    if logger.hasHandlers():
        return
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.INFO)
