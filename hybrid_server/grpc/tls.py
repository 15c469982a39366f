"""Server credentials from the configured PEM files, with errors that name the file."""
from __future__ import annotations

import ssl
from pathlib import Path

import grpc

from hybrid_server.config import Tls
from hybrid_server.lifecycle import StartupError


def _read(path: str, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise StartupError(f"cannot read {what} {path!r}: {exc.strerror or exc}") from None


def _check_pair(key: str, key_pem: bytes, cert: str, cert_pem: bytes) -> None:
    """grpc reports a bad PEM only as a failed bind: say which file is wrong, and how."""
    if b"-----BEGIN CERTIFICATE-----" not in cert_pem:
        raise StartupError(f"TLS certificate chain {cert!r} is not a PEM certificate (no BEGIN CERTIFICATE block)")
    if b"PRIVATE KEY-----" not in key_pem:
        raise StartupError(f"TLS private key {key!r} is not a PEM private key (no BEGIN ... PRIVATE KEY block)")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(cert, key)
    except ssl.SSLError as exc:
        if "KEY_VALUES_MISMATCH" in str(exc) or "key values mismatch" in str(exc):
            raise StartupError(f"TLS private key {key!r} does not match the certificate {cert!r}") from None
        raise StartupError(f"cannot load the TLS certificate {cert!r} with the key {key!r}: {exc.reason or exc}") from None


def _check_roots(path: str) -> None:
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_verify_locations(cafile=path)
    except ssl.SSLError as exc:
        raise StartupError(f"TLS root certificates {path!r} are not valid PEM certificates: {exc.reason or exc}") from None


def server_credentials(tls: Tls | None) -> grpc.ServerCredentials | None:
    if tls is None:
        return None
    for key, cert in tls.cert_chain_pairs:
        _check_pair(key, _read(key, "TLS private key"), cert, _read(cert, "TLS certificate chain"))
    if tls.root_certificates:
        _read(tls.root_certificates, "TLS root certificates")
        _check_roots(tls.root_certificates)
    pairs = [
        (_read(key, "TLS private key"), _read(cert, "TLS certificate chain"))
        for key, cert in tls.cert_chain_pairs
    ]
    roots = _read(tls.root_certificates, "TLS root certificates") if tls.root_certificates else None
    if tls.require_client_auth and roots is None:
        raise StartupError("REQUIRE_CLIENT_AUTH needs ROOT_CERTIFICATES_PATH to verify clients")
    return grpc.ssl_server_credentials(pairs, root_certificates=roots, require_client_auth=tls.require_client_auth)
