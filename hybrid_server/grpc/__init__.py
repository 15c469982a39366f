"""The gRPC side: runtime, server handle, backends, TLS, health and reflection."""
