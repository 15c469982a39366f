"""Server credentials from the configured PEM files, with errors that name the file."""
from __future__ import annotations

from pathlib import Path

import grpc

from hybrid_server.config import Tls
from hybrid_server.lifecycle import StartupError


def _read(path: str, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise StartupError(f"cannot read {what} {path!r}: {exc.strerror or exc}") from None


def server_credentials(tls: Tls | None) -> grpc.ServerCredentials | None:
    if tls is None:
        return None
    pairs = [
        (_read(key, "TLS private key"), _read(cert, "TLS certificate chain"))
        for key, cert in tls.cert_chain_pairs
    ]
    roots = _read(tls.root_certificates, "TLS root certificates") if tls.root_certificates else None
    if tls.require_client_auth and roots is None:
        raise StartupError("REQUIRE_CLIENT_AUTH needs ROOT_CERTIFICATES_PATH to verify clients")
    return grpc.ssl_server_credentials(pairs, root_certificates=roots, require_client_auth=tls.require_client_auth)
