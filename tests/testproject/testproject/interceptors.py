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
