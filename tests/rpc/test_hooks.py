"""before_action / after_action, sync and async, around `def` and `async def` actions."""
from __future__ import annotations

import grpc
import pytest

from django_socio_grpc.rpc.terminals import ASYNC_HOOK, NO_HOOK, SYNC_HOOK, hook_kind
from django_socio_grpc.services import Service
from tests.rpc import services

TIMEOUT = 10
HOOKED = ["test.SyncHooks", "test.AsyncHooks"]


def hook_events():
    return [event for event in services.EVENTS if event[0] in ("before", "after")]


@pytest.mark.parametrize("service", HOOKED)
@pytest.mark.parametrize("method", ["Unary", "SyncUnary"])
def test_hooks_run_around_the_action(client, msg, service, method, backend):
    assert client(service, method)(msg(), timeout=TIMEOUT).message == f"before:{method}"
    assert [event[:2] for event in services.EVENTS] == [("before", method), ("action", method), ("after", method)]
    # Where each hook ran: async hooks on a loop (for a `def` action: the serving or the
    # bridge loop, the worker thread waiting); sync hooks where the action runs.
    action_on_loop = not method.startswith("Sync")
    hooks_on_loop = service == "test.AsyncHooks" or action_on_loop
    assert [event[2] for event in hook_events()] == [hooks_on_loop, hooks_on_loop]


@pytest.mark.parametrize("service", HOOKED)
@pytest.mark.parametrize("method", ["ServerStream", "SyncServerStream"])
def test_after_action_of_a_stream_runs_after_its_last_message(client, msg, service, method):
    assert [reply.message for reply in client(service, method)(msg(count=2), timeout=TIMEOUT)] == [f"before:{method}"] * 2
    assert [event[:2] for event in services.EVENTS] == [("before", method), ("yield", 0), ("yield", 1), ("after", method)]


@pytest.mark.parametrize("service", HOOKED)
@pytest.mark.parametrize("method", ["Unary", "SyncUnary", "ServerStream", "SyncServerStream"])
def test_after_action_does_not_run_when_the_action_fails(client, msg, service, method):
    with pytest.raises(grpc.RpcError) as info:
        result = client(service, method)(msg(message="not_found", count=1), timeout=TIMEOUT)
        if "Stream" in method:
            list(result)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    assert [event[0] for event in hook_events()] == ["before"]


@pytest.mark.parametrize("service", HOOKED)
@pytest.mark.parametrize("method", ["Unary", "SyncUnary", "ServerStream", "SyncServerStream"])
def test_a_failing_before_action_ends_the_rpc_with_its_status(client, msg, service, method):
    with pytest.raises(grpc.RpcError) as info:
        result = client(service, method)(msg(message="before", count=1), timeout=TIMEOUT)
        if "Stream" in method:
            list(result)
    assert (info.value.code(), info.value.details()) == (
        grpc.StatusCode.PERMISSION_DENIED, '{"message": "no entry", "code": "permission_denied"}'
    )
    assert not any(event[0] in ("action", "yield", "after") for event in services.EVENTS)


def test_hook_kinds_are_decided_from_the_class():
    class Plain(Service):
        pass

    class Inherits(services.SyncHooksService):
        pass

    assert hook_kind(Plain, "before_action") == hook_kind(Plain, "after_action") == NO_HOOK
    assert hook_kind(services.SyncHooksService, "before_action") == SYNC_HOOK
    assert hook_kind(Inherits, "after_action") == SYNC_HOOK
    assert hook_kind(services.AsyncHooksService, "before_action") == ASYNC_HOOK
    assert hook_kind(services.ShapesService, "after_action") == NO_HOOK
