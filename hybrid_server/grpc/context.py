"""The context an action and a middleware may rely on, whatever the transport.

The native gRPC backends hand actions grpc's own servicer context (or a thin adapter of it);
other transports (Connect and gRPC-Web over HTTP) implement this subset over their request.
Anything beyond it is grpc-specific and may be missing elsewhere.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import grpc

Metadata = Sequence[tuple[str, Any]]


class RpcContext(Protocol):
    def invocation_metadata(self) -> Metadata | None:
        """Request metadata as (key, value) pairs; binary keys end in `-bin`."""

    def set_trailing_metadata(self, trailing_metadata: Metadata) -> None: ...

    def trailing_metadata(self) -> Metadata | None: ...

    def abort(self, code: grpc.StatusCode, details: str = "", trailing_metadata: Metadata = ()) -> Any:
        """End the RPC with `code`; raises (async contexts: a coroutine that raises)."""

    def set_code(self, code: grpc.StatusCode) -> None: ...

    def set_details(self, details: str) -> None: ...

    def time_remaining(self) -> float | None:
        """Seconds until the deadline, None without one."""

    def cancelled(self) -> bool: ...

    def peer(self) -> str: ...
