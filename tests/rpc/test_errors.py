"""Errors: the status each exception maps to, what the client sees, and the one log record."""
from __future__ import annotations

import json
import logging

import grpc
import pytest
from django.test import override_settings

from hybrid_server.testing import LiveServer
from tests.rpc.conftest import BACKENDS, Client, rpc_hook
from tests.rpc.services import TRAILING

TIMEOUT = 10

FAILING = ("Unary", "SyncUnary", "ServerStream", "SyncServerStream")

DENIED = "You do not have permission to perform this action."
NO_CREDENTIALS = "Authentication credentials were not provided."


def full_dict(message: str, code: str) -> dict[str, str]:
    return {"message": message, "code": code}


def full(message: str, code: str) -> str:
    """The details django-socio-grpc sends: `json.dumps(exc.get_full_details())`."""
    return json.dumps(full_dict(message, code))


# What ProbeService's fail() raises -> the status and details the client gets.
ERRORS = [
    ("not_found", grpc.StatusCode.NOT_FOUND, full("no such thing", "not_found")),
    ("invalid", grpc.StatusCode.INVALID_ARGUMENT, full("bad argument", "invalid_argument")),
    ("permission", grpc.StatusCode.PERMISSION_DENIED, full(DENIED, "permission_denied")),
    ("unauthenticated", grpc.StatusCode.UNAUTHENTICATED, full(NO_CREDENTIALS, "not_authenticated")),
    ("already_exist", grpc.StatusCode.ALREADY_EXISTS, full("Already exists.", "already_exist")),
    ("unimplemented", grpc.StatusCode.UNIMPLEMENTED, full("Unimplemented.", "unimplemented")),
    ("does_not_exist", grpc.StatusCode.NOT_FOUND, full("Item matching query does not exist.", "not_found")),
    ("http404", grpc.StatusCode.NOT_FOUND, full("nothing here", "not_found")),
    ("validation", grpc.StatusCode.INVALID_ARGUMENT, json.dumps({"name": [full_dict("This field is required.", "invalid")]})),
    ("django_permission", grpc.StatusCode.PERMISSION_DENIED, full("not yours", "permission_denied")),
    ("abort", grpc.StatusCode.FAILED_PRECONDITION, "aborted by action"),
    ("other", grpc.StatusCode.UNKNOWN, "ValueError"),
    ("import_error", grpc.StatusCode.UNKNOWN, "ModuleNotFoundError"),
]


def fails(call, *args, **kwargs) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as info:
        result = call(*args, timeout=TIMEOUT, **kwargs)
        if not hasattr(result, "DESCRIPTOR"):  # a response stream: read it to its end
            list(result)
    return info.value


@pytest.fixture
def stub(live, pb):
    return pb[1].ProbeServiceControllerStub(live.channel())


@pytest.mark.parametrize("action", ["Fail", "SyncFail"])
@pytest.mark.parametrize(("kind", "code", "details"), ERRORS, ids=[kind for kind, _, _ in ERRORS])
def test_exception_maps_to_status(stub, pb, action, kind, code, details):
    error = fails(getattr(stub, action), pb[0].ProbeMessage(message=kind))
    assert (error.code(), error.details()) == (code, details)


@pytest.mark.parametrize("action", ["Fail", "SyncFail"])
def test_debug_shows_the_message_of_an_unexpected_error(stub, pb, action):
    with override_settings(DEBUG=True):
        error = fails(getattr(stub, action), pb[0].ProbeMessage(message="other"))
    assert (error.code(), error.details()) == (grpc.StatusCode.UNKNOWN, "ValueError: secret internals")


@pytest.mark.parametrize("method", ["ServerStream", "SyncServerStream"])
@pytest.mark.parametrize(
    ("kind", "code", "details"),
    [
        ("not_found", grpc.StatusCode.NOT_FOUND, full("no such thing", "not_found")),
        ("value", grpc.StatusCode.UNKNOWN, "ValueError"),
        ("abort", grpc.StatusCode.FAILED_PRECONDITION, "aborted by action"),
    ],
)
def test_failing_stream_delivers_what_it_yielded_then_the_status(client, msg, method, kind, code, details):
    received = []
    with pytest.raises(grpc.RpcError) as info:
        for reply in client("test.Shapes", method)(msg(message=kind, count=3), timeout=TIMEOUT):
            received.append(reply.count)
    assert received == [0, 1, 2]
    assert (info.value.code(), info.value.details()) == (code, details)


@pytest.mark.parametrize("method", FAILING)
def test_abort_sends_trailing_metadata(client, msg, method):
    error = fails(client("test.Shapes", method), msg(message="abort"))
    assert (error.code(), error.details()) == (grpc.StatusCode.FAILED_PRECONDITION, "aborted by action")
    assert set(TRAILING) <= set(error.trailing_metadata())


# --------------------------------------------------------------------------- the log


@pytest.mark.parametrize("method", FAILING)
def test_unexpected_error_is_one_record_with_its_traceback(client, msg, method, request_log):
    error = fails(client("test.Shapes", method), msg(message="value", count=1))
    assert (error.code(), error.details()) == (grpc.StatusCode.UNKNOWN, "ValueError")
    (record,) = request_log.wait()
    assert record.levelno == logging.ERROR
    assert f"gRPC ShapesServiceController.{method} UNKNOWN" in record.getMessage()
    assert record.getMessage().endswith("(ValueError)")
    assert record.exc_info is not None and isinstance(record.exc_info[1], ValueError)
    assert "secret internals" in logging.Formatter().format(record)  # the log has what the client does not see


@pytest.mark.parametrize("method", FAILING)
def test_expected_error_is_one_warning_without_traceback(client, msg, method, request_log):
    fails(client("test.Shapes", method), msg(message="not_found", count=1))
    (record,) = request_log.wait()
    assert record.levelno == logging.WARNING
    assert f"gRPC ShapesServiceController.{method} NOT_FOUND" in record.getMessage()
    assert record.getMessage().endswith("(NotFound)")
    assert record.exc_info is None


@pytest.mark.parametrize("method", FAILING)
def test_abort_is_logged_with_its_code(client, msg, method, backend, request_log):
    fails(client("test.Shapes", method), msg(message="abort"))
    (record,) = request_log.wait()
    assert f"gRPC ShapesServiceController.{method} FAILED_PRECONDITION" in record.getMessage()
    # grpc.aio's own abort (an async action on aio) passes through unmapped: the code is read
    # from the context; our context adapters raise `Aborted`.
    origin = "AbortError" if backend == "aio" and not method.startswith("Sync") else "Aborted"
    assert record.getMessage().endswith(f"({origin})")


def test_success_is_not_logged_by_default(client, msg, request_log):
    client("test.Shapes", "Unary")(msg(), timeout=TIMEOUT)
    list(client("test.Shapes", "ServerStream")(msg(count=2), timeout=TIMEOUT))
    assert request_log.records == []


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    "framework",
    [
        {"GRPC_MIDDLEWARE": []},
        {"IGNORE_LOG_FOR_ACTION": [f"ShapesServiceController.{method}" for method in FAILING]},
    ],
    ids=["no-access-log", "action-ignored"],
)
def test_without_an_access_line_the_envelope_logs_the_error_once(pb, backend, framework, request_log):
    with override_settings(GRPC_FRAMEWORK=framework), LiveServer(backend=backend, handlers_hook=rpc_hook, health=False) as live:
        client = Client(live.channel())
        for method in FAILING:
            request_log.clear()
            fails(client("test.Shapes", method), pb[0].ProbeMessage(message="value", count=1))
            (record,) = request_log.wait()
            assert record.getMessage() == f"Exception in ShapesServiceController.{method}"
            assert isinstance(record.exc_info[1], ValueError)
            request_log.clear()
            fails(client("test.Shapes", method), pb[0].ProbeMessage(message="not_found", count=1))
            assert request_log.records == []  # expected errors need no record without an access log
