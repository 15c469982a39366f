"""The gRPC services on the HTTP port: Connect and gRPC-Web (see docs/web.md)."""
from hybrid_server.http.rpc.app import RpcApp
from hybrid_server.http.rpc.routes import max_receive_message_length

__all__ = ["RpcApp", "max_receive_message_length"]
