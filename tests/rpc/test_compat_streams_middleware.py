"""django-socio-grpc compatibility (issue 12) on the wire, in-process on both backends: streaming
actions in grpc.aio's style (`await context.write()`, `context.read()` loops), Django's own
middlewares in GRPC_MIDDLEWARE and the request object middlewares receive, and the request log's
records."""
from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from asgiref.sync import iscoroutinefunction
from django.conf import settings
from django.test import override_settings
from django.utils import translation
from django.utils.decorators import sync_and_async_middleware
from django.utils.translation import get_language_from_request

from django_socio_grpc import exceptions
from django_socio_grpc.services import Service
from django_socio_grpc.utils.utils import safe_async_response
from hybrid_server.testing import LiveServer
from tests.rpc.conftest import BACKENDS, Client, RequestLog, add_service
from tests.rpc.services import action, msg

TIMEOUT = 10.0
EOF = grpc.aio.EOF


class WriteService(Service):
    """`async def` streaming actions that send with `await context.write()` and return None."""

    @action(response_stream=True)
    async def Write(self, request, context):
        for index in range(request.count):
            await context.write(msg(message="w", count=index))

    @action(request_stream=True, response_stream=True)
    async def ReadWrite(self, request, context):
        while (item := await context.read()) is not EOF:
            await context.write(msg(message=item.message.upper(), count=item.count))

    @action(request_stream=True, response_stream=True)
    async def IterateWrite(self, request, context):
        async for item in request:
            await context.write(msg(message=item.message, count=item.count))

    @action(request_stream=True, response_stream=True)
    async def ReadYield(self, request, context):
        while (item := await context.read()) is not EOF:
            yield msg(message=item.message, count=item.count)

    @action(request_stream=True)
    async def ReadAll(self, request, context):
        parts = []
        while (item := await context.read()) is not EOF:
            parts.append(item.message)
        return msg(message="".join(parts), count=len(parts))

    @action(response_stream=True)
    async def WriteThenFail(self, request, context):
        await context.write(msg(message="w", count=0))
        raise exceptions.NotFound("gone")


class WriteHooksService(WriteService):
    """The same with an `after_action` hook (the stream's end runs it)."""

    async def after_action(self):
        type(self).after_calls += 1

    after_calls = 0


SERVICES: dict[str, type] = {"compat.Write": WriteService, "compat.WriteHooks": WriteHooksService}


def compat_hook(server: Any) -> None:
    from testproject.handlers import grpc_handlers

    grpc_handlers(server)
    for name, service_class in SERVICES.items():
        add_service(server, name, service_class)


@pytest.fixture(scope="module", params=BACKENDS)
def served(request: pytest.FixtureRequest, pb: Any) -> Iterator[LiveServer]:
    with LiveServer(backend=request.param, handlers_hook=compat_hook, health=False) as live:
        yield live


@pytest.fixture
def client(served: LiveServer) -> Client:
    return Client(served.channel(), SERVICES)


def _requests(*parts: str) -> Iterator[Any]:
    return iter([msg(message=part, count=index) for index, part in enumerate(parts)])


# --------------------------------------------------------------------------- item 1: context.write()


@pytest.mark.parametrize("service", SERVICES)
def test_server_stream_written_with_context_write(client, service, request_log: RequestLog):
    replies = list(client(service, "Write")(msg(count=3), timeout=TIMEOUT))
    assert [(r.message, r.count) for r in replies] == [("w", 0), ("w", 1), ("w", 2)]
    assert list(client(service, "Write")(msg(count=0), timeout=TIMEOUT)) == []
    assert not [r for r in request_log.records if r.levelno >= logging.WARNING]


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize("method", ["ReadWrite", "IterateWrite", "ReadYield"])
def test_bidi_in_grpc_aio_style(client, service, method):
    replies = list(client(service, method)(_requests("a", "b", "c"), timeout=TIMEOUT))
    expected = ["A", "B", "C"] if method == "ReadWrite" else ["a", "b", "c"]
    assert [(r.message, r.count) for r in replies] == list(zip(expected, range(3), strict=True))
    assert list(client(service, method)(iter([]), timeout=TIMEOUT)) == []


def test_bidi_written_with_context_write_answers_each_message_before_the_next(client):
    """A conversation: each write reaches the client while the client still holds the stream."""
    import queue

    answered: queue.SimpleQueue = queue.SimpleQueue()

    def requests():
        for index in range(3):
            if index:
                assert answered.get(timeout=TIMEOUT) == index - 1
            yield msg(message="m", count=index)

    seen = []
    for reply in client("compat.Write", "ReadWrite")(requests(), timeout=TIMEOUT):
        seen.append(reply.count)
        answered.put(reply.count)
    assert seen == [0, 1, 2]


@pytest.mark.parametrize("service", SERVICES)
def test_client_stream_read_with_context_read(client, service):
    reply = client(service, "ReadAll")(_requests("x", "y", "z"), timeout=TIMEOUT)
    assert (reply.message, reply.count) == ("xyz", 3)
    assert client(service, "ReadAll")(iter([]), timeout=TIMEOUT).count == 0


def test_a_written_stream_that_fails_sends_its_messages_then_the_status(client):
    replies = client("compat.Write", "WriteThenFail")(msg(), timeout=TIMEOUT)
    assert next(replies).count == 0
    with pytest.raises(grpc.RpcError) as info:
        next(replies)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND


def test_after_action_runs_once_a_written_stream_ended(client):
    before = WriteHooksService.after_calls
    assert len(list(client("compat.WriteHooks", "Write")(msg(count=2), timeout=TIMEOUT))) == 2
    assert WriteHooksService.after_calls == before + 1


# --------------------------------------------------------------------------- item 3: Django's middlewares

SEEN: list[dict[str, Any]] = []


@sync_and_async_middleware
def documented_middleware(get_response: Any) -> Any:
    """A middleware written as django-socio-grpc documents them (its locale_middleware example):
    it reads the request container and `request.context` as an HttpRequest."""

    def look(request: Any) -> None:
        SEEN.append({
            "grpc_request": request.grpc_request,
            "action": request.action,
            "service": type(request.service).__name__,
            "language": get_language_from_request(request.context),
            "meta": request.META.get("HTTP_X_PROBE"),
            "socio_meta": request.META.get("X-PROBE"),
            "header": request.headers.get("X-Probe"),
            "cookies": dict(request.COOKIES),
            "has_session": hasattr(request, "session"),
            "has_user": hasattr(request, "user"),
            "method": request.method,
            "path": request.path,
        })

    if iscoroutinefunction(get_response):

        async def middleware(request: Any) -> Any:
            look(request)
            return await safe_async_response(get_response, request)

        return middleware

    def sync_middleware(request: Any) -> Any:
        look(request)
        return get_response(request)

    return sync_middleware


class AccountService(Service):
    """What Django's middlewares give an action: `self.context.user`, `.session`, the language."""

    @action()
    async def Who(self, request, context):
        user = await context.auser()
        return msg(message=f"{user.get_username() or 'anonymous'}|{translation.get_language()}", count=int(user.is_authenticated))

    @action()
    def SyncWho(self, request, context):
        user = context.user
        return msg(message=f"{user.get_username() or 'anonymous'}|{translation.get_language()}", count=int(user.is_authenticated))

    @action(response_stream=True)
    async def WhoStream(self, request, context):
        user = await context.auser()
        for index in range(2):
            yield msg(message=f"{user.get_username() or 'anonymous'}|{translation.get_language()}", count=index)

    @action(response_stream=True)
    def SyncWhoStream(self, request, context):
        for index in range(2):
            yield msg(message=f"{context.user.get_username() or 'anonymous'}|{translation.get_language()}", count=index)

    @action()
    async def Lang(self, request, context):
        return msg(message=translation.get_language())

    @action()
    def SyncLang(self, request, context):
        return msg(message=translation.get_language())

    @action(response_stream=True)
    async def LangStream(self, request, context):
        yield msg(message=translation.get_language())

    @action(response_stream=True)
    def SyncLangStream(self, request, context):
        yield msg(message=translation.get_language())

    @action()
    async def Remember(self, request, context):
        await context.session.aset("note", request.message)
        return msg(message="kept")

    @action()
    def SyncRemember(self, request, context):
        context.session["note"] = request.message
        return msg(message="kept")

    @action()
    async def Recall(self, request, context):
        return msg(message=await context.session.aget("note", ""))

    @action()
    def SyncRecall(self, request, context):
        return msg(message=context.session.get("note", ""))


ACCOUNTS = {"compat.Account": AccountService}
DJANGO_MIDDLEWARE = [
    "django_socio_grpc.middlewares.log_requests_middleware",
    "django_socio_grpc.middlewares.close_old_connections_middleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "tests.rpc.test_compat_streams_middleware.documented_middleware",
]
OURS = [
    "django_socio_grpc.middlewares.locale_middleware",
    "tests.rpc.test_compat_streams_middleware.documented_middleware",
]


def accounts_hook(server: Any) -> None:
    for name, service_class in ACCOUNTS.items():
        add_service(server, name, service_class)


def _server(backend: str, middleware: list[str]) -> LiveServer:
    framework = {**settings.GRPC_FRAMEWORK, "GRPC_MIDDLEWARE": middleware}
    with override_settings(GRPC_FRAMEWORK=framework):  # chains are built when the server binds
        return LiveServer(backend=backend, handlers_hook=accounts_hook, health=False).start()


@pytest.fixture(scope="module")
def django_served(served: LiveServer) -> Iterator[LiveServer]:
    live = _server(served.options.backend, DJANGO_MIDDLEWARE)
    yield live
    live.stop()


@pytest.fixture(scope="module")
def ours_served(served: LiveServer) -> Iterator[LiveServer]:
    live = _server(served.options.backend, OURS)
    yield live
    live.stop()


@pytest.fixture
def accounts(django_served: LiveServer) -> Client:
    SEEN.clear()
    return Client(django_served.channel(), ACCOUNTS)


def _session_cookie(username: str) -> str:
    """A logged-in session for a new user, as Django's login() leaves it: the cookie to send."""
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
    from django.contrib.sessions.backends.db import SessionStore

    user = get_user_model().objects.create_user(username=username, password="not-used")
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    return f"{settings.SESSION_COOKIE_NAME}={session.session_key}"


def _who(accounts: Client, method: str, metadata: tuple[tuple[str, str], ...]) -> list[tuple[str, int]]:
    if method.endswith("Stream"):
        return [(r.message, r.count) for r in accounts("compat.Account", method)(msg(), metadata=metadata, timeout=TIMEOUT)]
    reply = accounts("compat.Account", method)(msg(), metadata=metadata, timeout=TIMEOUT)
    return [(reply.message, reply.count)]


WHO = ["Who", "SyncWho", "WhoStream", "SyncWhoStream"]


@pytest.mark.parametrize("method", WHO)
def test_session_and_authentication_middlewares_give_the_action_its_user(transactional_db, accounts, method):
    cookie = _session_cookie("alice")
    seen = _who(accounts, method, (("cookie", cookie), ("accept-language", "en")))
    assert {message for message, _ in seen} == {"alice|en"}
    if not method.endswith("Stream"):
        assert seen == [("alice|en", 1)]
    assert _who(accounts, method, (("accept-language", "en"),))[0][0] == "anonymous|en"


@pytest.mark.parametrize("method", WHO)
def test_locale_middleware_activates_the_requested_language(transactional_db, accounts, method):
    assert {message for message, _ in _who(accounts, method, (("accept-language", "fr-CH, fr;q=0.9, en;q=0.8"),))} == {
        "anonymous|fr"
    }
    assert {message for message, _ in _who(accounts, method, (("accept-language", "de"),))} == {"anonymous|de"}


@pytest.mark.parametrize("method", ["Who", "SyncWho"])
def test_headers_set_by_django_middlewares_reach_the_client_as_trailing_metadata(transactional_db, accounts, method):
    _, call = accounts("compat.Account", method).with_call(msg(), metadata=(("accept-language", "fr"),), timeout=TIMEOUT)
    assert ("content-language", "fr") in tuple(call.trailing_metadata())


@pytest.mark.parametrize("prefix", ["", "Sync"])
def test_a_session_an_action_writes_comes_back_as_a_cookie(transactional_db, accounts, prefix):
    _, call = accounts("compat.Account", f"{prefix}Remember").with_call(msg(message="milk"), timeout=TIMEOUT)
    cookies = [value for key, value in call.trailing_metadata() if key == "set-cookie"]
    assert len(cookies) == 1 and cookies[0].startswith(f"{settings.SESSION_COOKIE_NAME}=")
    cookie = cookies[0].split(";", 1)[0]
    reply = accounts("compat.Account", f"{prefix}Recall")(msg(), metadata=(("cookie", cookie),), timeout=TIMEOUT)
    assert reply.message == "milk"


@pytest.mark.parametrize("method", ["Who", "SyncWho", "WhoStream", "SyncWhoStream"])
def test_the_request_a_middleware_receives(transactional_db, accounts, method):
    """django-socio-grpc's request container: grpc_request, context (with the HttpRequest face
    behind it), action, service; META from the metadata, headers, COOKIES; session and user set
    by the middlewares before it."""
    _who(accounts, method, (("x-probe", "42"), ("accept-language", "fr"), ("cookie", "a=1; b=2")))
    (seen,) = SEEN
    assert seen["grpc_request"] == msg()
    assert (seen["action"], seen["service"]) == (method, "AccountService")
    assert (seen["meta"], seen["socio_meta"], seen["header"]) == ("42", "42", "42")
    assert seen["language"] == "fr"  # get_language_from_request(request.context), as documented
    assert seen["cookies"] == {"a": "1", "b": "2"}
    assert seen["has_session"] and seen["has_user"]
    assert (seen["method"], seen["path"]) == ("POST", f"/AccountServiceController/{method}")


@pytest.mark.parametrize("method", ["Lang", "SyncLang", "LangStream", "SyncLangStream"])
def test_our_locale_middleware_and_safe_async_response(transactional_db, ours_served, method):
    """django_socio_grpc.middlewares.locale_middleware: the language cookie, else Accept-Language;
    the documented middleware's `await safe_async_response(get_response, request)` for every shape;
    no user (None, as django-socio-grpc's) and no session without Django's middlewares."""
    SEEN.clear()
    client = Client(ours_served.channel(), ACCOUNTS)
    assert [m for m, _ in _who(client, method, (("accept-language", "de"),))] == ["de"]
    cookie = (("cookie", f"{settings.LANGUAGE_COOKIE_NAME}=fr"), ("accept-language", "de"))
    assert [m for m, _ in _who(client, method, cookie)] == ["fr"]
    assert len(SEEN) == 2 and not SEEN[0]["has_session"]


# --------------------------------------------------------------------------- item 6: the request log

# django-socio-grpc's "ServiceClass.Action" form and ours ("ServiceController.Action").
IGNORED = ["WriteService.Write", "WriteServiceController.ReadAll"]


@pytest.fixture(scope="module")
def debug_served(served: LiveServer) -> Iterator[LiveServer]:
    """DEBUG on and IGNORE_LOG_FOR_ACTION set when the server binds (the access log reads both then)."""
    framework = {**settings.GRPC_FRAMEWORK, "IGNORE_LOG_FOR_ACTION": IGNORED}
    with override_settings(DEBUG=True, GRPC_FRAMEWORK=framework):
        live = LiveServer(backend=served.options.backend, handlers_hook=compat_hook, health=False).start()
    yield live
    live.stop()


def test_with_debug_successful_calls_are_logged_with_the_documented_extras(debug_served, request_log: RequestLog):
    client = Client(debug_served.channel(), SERVICES)
    assert len(list(client("compat.Write", "ReadWrite")(_requests("a"), timeout=TIMEOUT))) == 1
    (record,) = request_log.wait()
    assert record.levelno == logging.INFO and " OK " in record.getMessage()
    assert record.status_code == grpc.StatusCode.OK
    assert (record.request.action, type(record.request.service).__name__) == ("ReadWrite", "WriteService")
    assert record.request.META["REMOTE_ADDR"] == "127.0.0.1"  # the request's HttpRequest face


def test_failed_calls_carry_the_extras(debug_served, request_log: RequestLog):
    client = Client(debug_served.channel(), SERVICES)
    with pytest.raises(grpc.RpcError):
        list(client("compat.Write", "WriteThenFail")(msg(), timeout=TIMEOUT))
    (record,) = request_log.wait()
    assert record.levelno == logging.WARNING
    assert record.status_code == grpc.StatusCode.NOT_FOUND
    assert record.request.action == "WriteThenFail" and record.request.grpc_request == msg()


def test_ignore_log_for_action_accepts_both_forms(debug_served, request_log: RequestLog):
    client = Client(debug_served.channel(), SERVICES)
    assert len(list(client("compat.Write", "Write")(msg(count=1), timeout=TIMEOUT))) == 1  # "WriteService.Write"
    assert client("compat.Write", "ReadAll")(_requests("x"), timeout=TIMEOUT).count == 1  # "WriteServiceController.ReadAll"
    assert len(list(client("compat.WriteHooks", "Write")(msg(count=1), timeout=TIMEOUT))) == 1  # another class: logged
    (record,) = request_log.wait()
    assert record.request.full_action == "WriteHooksServiceController.Write"
