"""The transport-neutral per-RPC path: from a transport's handler call to the user's action.

- `servicer`: `build_servicer`, whose functions bind to a `hybrid_server.grpc.runtime.Runtime`.
- `aio`, `threads`: the handler builders, one per calling convention.
- `envelope`: the error envelopes (async, sync); `errors`: the one exception -> status mapping.
- `chain`: GRPC_MIDDLEWARE, one chain per servicer and flavour; `terminals`: hooks and action.
- `call`: `RpcCall`, what middlewares receive; `contexts`: context adapters; `bridges`: loop/thread crossings.
"""
