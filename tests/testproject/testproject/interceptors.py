"""Interceptors for the tests: refuse calls that carry `x-block`, count the others in a header."""
import grpc


def _blocked(handler_call_details):
    return any(key == "x-block" for key, _ in handler_call_details.invocation_metadata or ())


def _deny_handler(aio: bool):
    if aio:
        async def deny(request, context):
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, "blocked by interceptor")
    else:
        def deny(request, context):
            context.abort(grpc.StatusCode.PERMISSION_DENIED, "blocked by interceptor")
    return grpc.unary_unary_rpc_method_handler(deny)


class BlockingInterceptor(grpc.aio.ServerInterceptor):
    async def intercept_service(self, continuation, handler_call_details):
        if _blocked(handler_call_details):
            return _deny_handler(aio=True)
        return await continuation(handler_call_details)


class SyncBlockingInterceptor(grpc.ServerInterceptor):
    def intercept_service(self, continuation, handler_call_details):
        if _blocked(handler_call_details):
            return _deny_handler(aio=False)
        return continuation(handler_call_details)


class _Secret(ValueError):
    pass


def _raise(where):
    raise _Secret(f"SECRET from the interceptor's {where}")


class RaisingInterceptor(grpc.aio.ServerInterceptor):
    """`x-raise: intercept` raises in intercept_service, `x-raise: wrapper` in the handler it returns."""

    async def intercept_service(self, continuation, handler_call_details):
        where = dict(handler_call_details.invocation_metadata or ()).get("x-raise")
        if where == "intercept":
            _raise("intercept_service")
        handler = await continuation(handler_call_details)
        if where == "wrapper" and handler is not None and handler.unary_unary is not None:
            async def wrapped(request, context):
                _raise("wrapper")
            return handler._replace(unary_unary=wrapped)
        return handler


class SyncRaisingInterceptor(grpc.ServerInterceptor):
    def intercept_service(self, continuation, handler_call_details):
        where = dict(handler_call_details.invocation_metadata or ()).get("x-raise")
        if where == "intercept":
            _raise("intercept_service")
        handler = continuation(handler_call_details)
        if where == "wrapper" and handler is not None and handler.unary_unary is not None:
            def wrapped(request, context):
                _raise("wrapper")
            return handler._replace(unary_unary=wrapped)
        return handler
