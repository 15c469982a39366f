"""`grpc_settings`: settings.GRPC_FRAMEWORK over documented defaults, one reader for engine and app."""
import grpc
import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings
from testproject import handlers

import django_socio_grpc.settings as app_settings
from hybrid_server import settings as engine_settings
from hybrid_server.settings import DEFAULTS, grpc_settings

HOOK = {"ROOT_HANDLERS_HOOK": "testproject.handlers.grpc_handlers"}


class CountingInterceptor(grpc.aio.ServerInterceptor):
    async def intercept_service(self, continuation, handler_call_details):
        return await continuation(handler_call_details)


def test_one_reader_at_the_documented_path():
    assert app_settings.grpc_settings is grpc_settings
    assert app_settings.DEFAULTS is DEFAULTS


def test_defaults():
    with override_settings(GRPC_FRAMEWORK=HOOK):
        assert grpc_settings.GRPC_CHANNEL_PORT == 50051
        assert grpc_settings.SERVER_OPTIONS == []
        assert grpc_settings.SERVER_INTERCEPTORS == []
        assert grpc_settings.ENABLE_HEALTH_CHECK is True
        assert grpc_settings.ENABLE_REFLECTION is False
        assert grpc_settings.GRACE_PERIOD == 10.0 and grpc_settings.DRAIN_DELAY == 0.0
        assert grpc_settings.MAXIMUM_CONCURRENT_RPCS is None
        assert (grpc_settings.HEALTHZ_PATH, grpc_settings.READYZ_PATH) == ("/healthz", "/readyz")
        assert grpc_settings.ROOT_HANDLERS_HOOK is handlers.grpc_handlers


def test_app_keys_are_registered_on_the_engine_reader():
    with override_settings(GRPC_FRAMEWORK=HOOK):
        assert grpc_settings.LOG_OK_RESPONSE is False
        assert grpc_settings.IGNORE_LOG_FOR_ACTION == []
        assert grpc_settings.GRPC_MIDDLEWARE == DEFAULTS["GRPC_MIDDLEWARE"] == app_settings.APP_DEFAULTS["GRPC_MIDDLEWARE"]


def test_register_defaults_declares_more_keys(monkeypatch):
    # Copies, restored after the test, so the real declarations are left as they were.
    monkeypatch.setattr(engine_settings, "DEFAULTS", dict(engine_settings.DEFAULTS))
    monkeypatch.setattr(engine_settings, "ACCEPTED_UNUSED", set(engine_settings.ACCEPTED_UNUSED))
    try:
        with override_settings(GRPC_FRAMEWORK={"TEST_ONLY_KEY": 2, "TEST_ONLY_IGNORED": True}):
            with pytest.raises(ImproperlyConfigured, match="'TEST_ONLY_IGNORED', 'TEST_ONLY_KEY'"):
                _ = grpc_settings.GRPC_CHANNEL_PORT
            engine_settings.register_defaults({"TEST_ONLY_KEY": 1}, ["TEST_ONLY_IGNORED"])
            assert grpc_settings.TEST_ONLY_KEY == 2
        assert grpc_settings.TEST_ONLY_KEY == 1
        with pytest.raises(AttributeError):
            _ = grpc_settings.TEST_ONLY_IGNORED  # accepted, but not a setting
    finally:
        grpc_settings.reload()


def test_follows_override_settings():
    with override_settings(GRPC_FRAMEWORK={"GRPC_CHANNEL_PORT": 6000}):
        assert grpc_settings.GRPC_CHANNEL_PORT == 6000
        with override_settings(GRPC_FRAMEWORK={"GRPC_CHANNEL_PORT": 7000}):
            assert grpc_settings.GRPC_CHANNEL_PORT == 7000
        assert grpc_settings.GRPC_CHANNEL_PORT == 6000


def test_default_hook_is_in_root_urlconf():
    with override_settings(GRPC_FRAMEWORK={}, ROOT_URLCONF="testproject.urls"):
        assert grpc_settings.raw("ROOT_HANDLERS_HOOK") == "testproject.urls.grpc_handlers"
        assert not grpc_settings.is_set("ROOT_HANDLERS_HOOK")
        with pytest.raises(ImproperlyConfigured) as info:
            _ = grpc_settings.ROOT_HANDLERS_HOOK
    message = str(info.value)
    assert "ROOT_HANDLERS_HOOK" in message and "testproject.urls.grpc_handlers" in message


def test_unknown_key_is_named():
    with override_settings(GRPC_FRAMEWORK={"ROOT_HANDLER_HOOK": "x.y"}):
        with pytest.raises(ImproperlyConfigured, match="'ROOT_HANDLER_HOOK'"):
            _ = grpc_settings.GRPC_CHANNEL_PORT


def test_unknown_attribute_is_an_attribute_error():
    with pytest.raises(AttributeError, match="NO_SUCH_SETTING"):
        _ = grpc_settings.NO_SUCH_SETTING


def test_grpc_framework_must_be_a_dict():
    with override_settings(GRPC_FRAMEWORK=[("GRPC_CHANNEL_PORT", 1)]):
        with pytest.raises(ImproperlyConfigured, match="must be a dict"):
            _ = grpc_settings.GRPC_CHANNEL_PORT


def test_failing_import_names_key_and_path():
    with override_settings(GRPC_FRAMEWORK={"SERVER_INTERCEPTORS": ["tests.nowhere.Interceptor"]}):
        with pytest.raises(ImproperlyConfigured) as info:
            _ = grpc_settings.SERVER_INTERCEPTORS
    assert "SERVER_INTERCEPTORS" in str(info.value) and "tests.nowhere.Interceptor" in str(info.value)


def test_interceptors_from_strings_and_instances():
    instance = CountingInterceptor()
    with override_settings(GRPC_FRAMEWORK={"SERVER_INTERCEPTORS": [f"{__name__}.CountingInterceptor", instance]}):
        first, second = grpc_settings.SERVER_INTERCEPTORS
    assert isinstance(first, CountingInterceptor) and second is instance


def test_raw_values_are_not_imported():
    with override_settings(GRPC_FRAMEWORK={"SERVER_INTERCEPTORS": [f"{__name__}.CountingInterceptor"]}):
        assert grpc_settings.raw("SERVER_INTERCEPTORS") == [f"{__name__}.CountingInterceptor"]
        assert grpc_settings.is_set("SERVER_INTERCEPTORS")


def test_django_socio_grpc_keys_are_accepted():
    with override_settings(GRPC_FRAMEWORK={"GRPC_ASYNC": True, "SEPARATE_READ_WRITE_MODEL": False}):
        assert grpc_settings.GRPC_CHANNEL_PORT == 50051
