"""Serve a Django project over gRPC and HTTP from one asyncio process."""
import os
from typing import Any

# grpc core writes its own log lines straight to stderr (among them text a client chose, such as
# a GOAWAY's debug data, with its newlines and escape codes). Quiet unless the operator asks:
# GRPC_VERBOSITY=ERROR (or INFO, DEBUG) brings them back. Set before grpc is first imported.
os.environ.setdefault("GRPC_VERBOSITY", "NONE")

from hybrid_server.config import Config, ConfigError, resolve
from hybrid_server.lifecycle import EXIT_FAILURE, EXIT_FORCED, EXIT_OK, State
from hybrid_server.main import run
from hybrid_server.options import UNSET, Options

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:  # HybridServer pulls in grpc and uvicorn: import it lazily
    if name == "HybridServer":
        from hybrid_server.server import HybridServer

        return HybridServer
    raise AttributeError(name)


__all__ = [
    "EXIT_FAILURE", "EXIT_FORCED", "EXIT_OK", "UNSET", "Config", "ConfigError", "HybridServer",
    "Options", "State", "__version__", "resolve", "run",
]
