"""django-socio-grpc's exception contract, on the wire on both backends: details are
`json.dumps(exc.get_full_details())`, the constructor is DRF's `(detail, code)`, `status_code`
is a class attribute, `logging_level` sets the request log's level, and Django REST framework's
`APIException`s map by their HTTP status (when DRF is installed; it is never imported for it)."""
from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from django_socio_grpc import exceptions
from django_socio_grpc.decorators import grpc_action
from django_socio_grpc.services import Service
from hybrid_server.testing import LiveServer
from tests.rpc.conftest import BACKENDS, Client, add_service
from tests.rpc.services import MESSAGE, msg

TIMEOUT = 10
ROOT = Path(__file__).resolve().parents[2]


class Conflict(exceptions.GRPCException):
    status_code = grpc.StatusCode.ABORTED
    default_detail = "Custom error message"
    default_code = "custom_error_code"


class Loud(exceptions.NotFound):
    logging_level = "ERROR"


class Quiet(exceptions.InvalidArgument):
    logging_level = "INFO"


class Odd(exceptions.InvalidArgument):
    logging_level = "SHOUTING"  # not a level: WARNING, as django-socio-grpc falls back to


def drf_exception(kind: str) -> BaseException:
    from rest_framework import exceptions as drf

    return {
        "drf_validation": lambda: drf.ValidationError({"name": ["This field is required."]}),
        "drf_validation_text": lambda: drf.ValidationError("bad value"),
        "drf_not_found": lambda: drf.NotFound(),
        "drf_permission": lambda: drf.PermissionDenied(),
        "drf_not_authenticated": lambda: drf.NotAuthenticated(),
        "drf_authentication_failed": lambda: drf.AuthenticationFailed("bad token", "token_invalid"),
        "drf_throttled": lambda: drf.Throttled(),
        "drf_server_error": lambda: drf.APIException(),
    }[kind]()


def build(kind: str) -> BaseException:
    """What the actions raise, by name."""
    simple = {
        "grpc": exceptions.GRPCException,
        "not_found": exceptions.NotFound,
        "invalid": exceptions.InvalidArgument,
        "permission": exceptions.PermissionDenied,
        "unauthenticated": exceptions.Unauthenticated,
        "already_exist": exceptions.AlreadyExist,
        "unimplemented": exceptions.Unimplemented,
        "conflict": Conflict,
        "loud": Loud,
        "quiet": Quiet,
        "odd": Odd,
    }
    if kind in simple:
        return simple[kind]()
    if kind == "with_code":
        return exceptions.NotFound("Missing", "missing_code")
    if kind == "keywords":
        return exceptions.PermissionDenied(detail="Not yours", code="ownership")
    if kind == "structured":
        return exceptions.InvalidArgument({"name": ["required", "too short"], "age": "negative"}, "bad")
    if kind == "list":
        return exceptions.InvalidArgument(["one", "two"])
    if kind == "accents":
        return exceptions.NotFound("Élément introuvable")
    return drf_exception(kind)


class CompatErrorsService(Service):
    @grpc_action(request=MESSAGE, response=MESSAGE)
    async def Raise(self, request, context):
        raise build(request.message)

    @grpc_action(request=MESSAGE, response=MESSAGE)
    def SyncRaise(self, request, context):
        raise build(request.message)

    @grpc_action(request=MESSAGE, response=MESSAGE, response_stream=True)
    async def RaiseInStream(self, request, context):
        yield msg(count=0)
        raise build(request.message)


SERVICES = {"test.CompatErrors": CompatErrorsService}
ACTIONS = ["Raise", "SyncRaise", "RaiseInStream"]


def hook(server: Any) -> None:
    add_service(server, "test.CompatErrors", CompatErrorsService)


@pytest.fixture(scope="module", params=BACKENDS)
def client(request: pytest.FixtureRequest, pb: Any) -> Iterator[Client]:
    with LiveServer(backend=request.param, handlers_hook=hook, health=False) as live:
        yield Client(live.channel(), SERVICES)


def fails(client: Client, action: str, kind: str) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as info:
        result = client("test.CompatErrors", action)(msg(message=kind), timeout=TIMEOUT)
        if action == "RaiseInStream":
            list(result)
    return info.value


def full(message: str, code: str) -> dict[str, str]:
    return {"message": message, "code": code}


DENIED = "You do not have permission to perform this action."
NO_CREDENTIALS = "Authentication credentials were not provided."

# What django-socio-grpc's exceptions send: its default messages and codes.
DEFAULTS = [
    ("grpc", grpc.StatusCode.INTERNAL, full("A server error occurred.", "error")),
    ("not_found", grpc.StatusCode.NOT_FOUND, full("Not found.", "not_found")),
    ("invalid", grpc.StatusCode.INVALID_ARGUMENT, full("Invalid argument.", "invalid_argument")),
    ("permission", grpc.StatusCode.PERMISSION_DENIED, full(DENIED, "permission_denied")),
    ("unauthenticated", grpc.StatusCode.UNAUTHENTICATED, full(NO_CREDENTIALS, "not_authenticated")),
    ("already_exist", grpc.StatusCode.ALREADY_EXISTS, full("Already exists.", "already_exist")),
    ("unimplemented", grpc.StatusCode.UNIMPLEMENTED, full("Unimplemented.", "unimplemented")),
    ("conflict", grpc.StatusCode.ABORTED, full("Custom error message", "custom_error_code")),
    ("with_code", grpc.StatusCode.NOT_FOUND, full("Missing", "missing_code")),
    ("keywords", grpc.StatusCode.PERMISSION_DENIED, full("Not yours", "ownership")),
    ("structured", grpc.StatusCode.INVALID_ARGUMENT,
     {"name": [full("required", "bad"), full("too short", "bad")], "age": full("negative", "bad")}),
    ("list", grpc.StatusCode.INVALID_ARGUMENT, [full("one", "invalid_argument"), full("two", "invalid_argument")]),
    ("accents", grpc.StatusCode.NOT_FOUND, full("Élément introuvable", "not_found")),
]


@pytest.mark.parametrize("action", ACTIONS)
def test_details_are_the_json_of_get_full_details(client, action):
    for kind, code, details in DEFAULTS:
        error = fails(client, action, kind)
        assert error.code() == code, kind
        assert error.details() == json.dumps(details), kind  # byte for byte what django-socio-grpc sends
        assert json.loads(error.details()) == details


def test_the_constructor_is_drf_style():
    error = exceptions.NotFound("Missing", "missing_code")
    assert (str(error), error.detail, error.detail.code) == ("Missing", "Missing", "missing_code")
    assert error.get_codes() == "missing_code"
    assert error.get_full_details() == {"message": "Missing", "code": "missing_code"}
    assert exceptions.NotFound().get_full_details() == {"message": "Not found.", "code": "not_found"}
    assert exceptions.NotFound.status_code is grpc.StatusCode.NOT_FOUND
    assert error.status_code is grpc.StatusCode.NOT_FOUND  # a class attribute, not an argument
    structured = exceptions.InvalidArgument({"name": ["required"]}, "bad")
    assert structured.get_codes() == {"name": ["bad"]}
    assert structured.detail == {"name": ["required"]}
    with pytest.raises(TypeError, match=r"string error code.*class attribute `status_code`"):
        exceptions.GRPCException("detail", grpc.StatusCode.ABORTED)
    assert issubclass(exceptions.AlreadyExists, exceptions.AlreadyExist)


@pytest.mark.parametrize(
    ("kind", "level"),
    [("not_found", logging.WARNING), ("loud", logging.ERROR), ("quiet", logging.INFO), ("odd", logging.WARNING)],
)
@pytest.mark.parametrize("action", ACTIONS)
def test_the_request_log_uses_the_exception_logging_level(client, request_log, action, kind, level):
    fails(client, action, kind)
    (record,) = request_log.wait()
    assert record.levelno == level
    assert f"CompatErrorsServiceController.{action}" in record.getMessage()
    assert record.exc_info is None  # an expected error: no traceback


# --------------------------------------------------------------------------- Django REST framework

DRF = [
    ("drf_validation", grpc.StatusCode.INVALID_ARGUMENT, {"name": [full("This field is required.", "invalid")]}, logging.WARNING),
    ("drf_validation_text", grpc.StatusCode.INVALID_ARGUMENT, [full("bad value", "invalid")], logging.WARNING),
    ("drf_not_found", grpc.StatusCode.NOT_FOUND, full("Not found.", "not_found"), logging.WARNING),
    ("drf_permission", grpc.StatusCode.PERMISSION_DENIED,
     full(DENIED, "permission_denied"), logging.WARNING),
    ("drf_not_authenticated", grpc.StatusCode.UNAUTHENTICATED,
     full(NO_CREDENTIALS, "not_authenticated"), logging.WARNING),
    ("drf_authentication_failed", grpc.StatusCode.UNAUTHENTICATED, full("bad token", "token_invalid"), logging.WARNING),
    ("drf_throttled", grpc.StatusCode.RESOURCE_EXHAUSTED, full("Request was throttled.", "throttled"), logging.WARNING),
    ("drf_server_error", grpc.StatusCode.INTERNAL, full("A server error occurred.", "error"), logging.ERROR),
]


@pytest.mark.parametrize("action", ACTIONS)
def test_drf_api_exceptions_map_by_their_http_status(client, request_log, action):
    pytest.importorskip("rest_framework")
    for kind, code, details, level in DRF:
        request_log.clear()
        error = fails(client, action, kind)
        assert (error.code(), json.loads(error.details())) == (code, details), kind
        (record,) = request_log.wait()
        assert record.levelno == level, kind


def test_drf_is_never_imported_for_the_mapping():
    """With DRF absent (imports of it fail), every exception still maps; nothing imports DRF."""
    script = textwrap.dedent(
        """
        import sys

        class NoDRF:
            def find_spec(self, name, path=None, target=None):
                if name == "rest_framework" or name.startswith("rest_framework."):
                    raise ImportError("DRF is not installed here")

        sys.meta_path.insert(0, NoDRF())
        import django
        from django.conf import settings

        settings.configure(INSTALLED_APPS=["django_socio_grpc"])
        django.setup()
        from django_socio_grpc import exceptions
        from django_socio_grpc.rpc.errors import map_exception

        for exc in (exceptions.NotFound("gone"), ValueError("x"), KeyError("y")):
            error = map_exception(exc)
            print(error.code.name, error.details)
        assert not [name for name in sys.modules if name.startswith("rest_framework")]
        """
    )
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        'NOT_FOUND {"message": "gone", "code": "not_found"}',
        "UNKNOWN ValueError",
        "UNKNOWN KeyError",
    ]
