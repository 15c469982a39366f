"""Serve a Django project over gRPC and HTTP from one asyncio process."""
from hybrid_server.config import Config
from hybrid_server.lifecycle import State
from hybrid_server.main import run

__version__ = "0.1.0"


def __getattr__(name: str):  # HybridServer pulls in grpc and uvicorn: import it lazily
    if name == "HybridServer":
        from hybrid_server.server import HybridServer

        return HybridServer
    raise AttributeError(name)


__all__ = ["Config", "HybridServer", "State", "run", "__version__"]
